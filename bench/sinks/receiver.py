"""The receiver of scenario (s) (bench/run, bench/README.md): takes the audit events of a
webhook sink (POST /hook: one record or {"events": [...]}) and of a Splunk HEC sink (POST
/services/collector/event: one {"event": ...} per line), answers 204 / 200 at once, and
appends `<sink> <app_id> <seq> <action> <lag ms>` to OUT for each event: its arrival time less its
`occurred_at` (the time the write stamped on it, just before its commit: the lag measured is
at most a millisecond or two longer than from the commit). Checkpoint records (not written
during the bench) are left out. Signatures are not checked here (tests/sinks does that).

    python3 receiver.py PORT OUT
"""

import json
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()


def main(port, out_path):
    out = open(out_path, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrived = time.time()
            if self.path == "/hook":
                sink = "webhook"
                body = json.loads(data)
                records = body.get("events", [body])
            else:
                sink = "hec"
                records = [json.loads(line)["event"] for line in data.splitlines() if line.strip()]
            lines = []
            for e in records:
                if e.get("action") == "checkpoint":
                    continue
                at = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")).timestamp()
                lines.append(f"{sink} {e['app_id']} {e['seq']} {e['action']} {1000 * (arrived - at):.1f}\n")
            with lock:
                out.writelines(lines)
                out.flush()
            ok = b'{"text":"Success","code":0}' if sink == "hec" else b""
            self.send_response(200 if ok else 204)
            self.send_header("Content-Length", str(len(ok)))
            self.end_headers()
            self.wfile.write(ok)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
