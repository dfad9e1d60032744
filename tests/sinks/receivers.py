"""Receivers for the sink test (tests/sinks/run.sh), and the final check.

  receivers.py webhook PORT OUT     a webhook receiver: verifies every request with the
                                    `standardwebhooks` package (secret in WEBHOOK_SECRET),
                                    and every signed checkpoint's note with the Ed25519 key
                                    from LATCHKEY_URL/audit/keys (`cryptography`; 503 while
                                    Latchkey is down, so it is sent again), answers 204,
                                    appends each record to OUT (one JSON a line); DELAY_MS
                                    slows each answer (so a kill lands mid-delivery)
  receivers.py hec PORT OUT         a Splunk HEC stand-in: checks the exact request shape
                                    (HEC_TOKEN, HEC_SOURCETYPE), answers like Splunk, appends
                                    each event to OUT; a request of the wrong shape gets 400
                                    (which pauses the sink: run.sh fails on a paused sink)
  receivers.py check EXPECTED CHECKPOINTS WEBHOOK HEC SYSLOG SYSLOG_TLS
                                    every expected event (app_id seq event_id per line) arrived
                                    at each receiver at least once, in order per application
                                    (no event before an earlier one), and every signed
                                    checkpoint (app_id tree_size checkpoint_id per line) too,
                                    after the event of its size; every syslog line is an RFC
                                    5424 message whose structured data names the event or
                                    checkpoint
"""

import base64
import hashlib
import json
import os
import re
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook


def append(path, records):
    with open(path, "a", encoding="utf-8") as f:
        for e in records:
            if e.get("action") == "checkpoint":
                line = {k: e[k] for k in ("action", "app_id", "tree_size", "checkpoint_id")}
            else:
                line = {"app_id": e["app_id"], "seq": e["seq"], "event_id": e["event_id"]}
            f.write(json.dumps(line) + "\n")


# ------------------------------------------------ signed checkpoints (C2SP signed note, Ed25519)

def parse_vkey(text):
    """A signed-note verifier key `<name>+<key hash hex>+base64(0x01 || public key)`."""
    name, keyhash, key = text.strip().split("+", 2)
    raw = base64.b64decode(key)
    if raw[0] != 1 or len(raw) != 33:
        raise ValueError("not an Ed25519 verifier key")
    if hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() != keyhash:
        raise ValueError("verifier key hash")
    return name, bytes.fromhex(keyhash), Ed25519PublicKey.from_public_bytes(raw[1:])


def open_note(note, keys):
    """(origin, size, root) of a checkpoint note signed by one of `keys`; raises otherwise."""
    body, sigs = note.rstrip("\n").rsplit("\n\n", 1)
    body += "\n"
    for line in sigs.splitlines():
        if not line.startswith("\u2014 "):
            raise ValueError(f"signature line {line!r}")
        signer, sig = line[2:].split(" ", 1)
        blob = base64.b64decode(sig)
        for name, keyhash, public in keys:
            if signer == name and blob[:4] == keyhash:
                public.verify(blob[4:], body.encode())  # raises InvalidSignature
                origin, size, root = body.split("\n")[:3]
                return origin, int(size), base64.b64decode(root)
    raise ValueError("no signature by a key of GET /audit/keys")


def check_checkpoint(record, keys):
    origin, size, root = open_note(record["note"], keys)
    if size != record["tree_size"] or base64.b64encode(root).decode() != record["root_hash"]:
        raise ValueError("the record's size or root is not the signed one")
    if not origin.endswith("/audit/" + record["app_id"]):
        raise ValueError(f"origin {origin} is not the application's")
    want = f"checkpoint:{record['app_id']}:{size}:{root[:8].hex()}"
    if record["checkpoint_id"] != want:
        raise ValueError(f"checkpoint_id {record['checkpoint_id']} (expected {want})")


class Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))


def webhook(port, out):
    hook = Webhook(os.environ["WEBHOOK_SECRET"])
    delay = int(os.environ.get("DELAY_MS", "0")) / 1000
    keys_url = os.environ["LATCHKEY_URL"] + "/audit/keys"
    keys = []

    def verify_checkpoint(record):
        """None when the note verifies; else what is wrong, or "" when the keys are unreachable."""
        for attempt in range(2):
            if attempt or not keys:  # fetched on first use and again for a key not known yet
                try:
                    with urllib.request.urlopen(keys_url, timeout=5) as r:
                        keys[:] = [parse_vkey(k["key"]) for k in json.load(r)["keys"]]
                except OSError:
                    return ""
            try:
                check_checkpoint(record, keys)
                return None
            except Exception as e:  # noqa: BLE001 (any failure is a refusal)
                problem = f"{type(e).__name__}: {e}"
        return problem

    class Handler(Quiet):
        def do_POST(self):
            data = self.body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = hook.verify(data, headers)
            except Exception as e:  # a bad signature: refuse loudly
                print(f"webhook: verification failed: {e}", file=sys.stderr, flush=True)
                self.answer(401)
                return
            events = payload.get("events", [payload])
            first = events[0]
            own_id = first["checkpoint_id"] if first.get("action") == "checkpoint" else first["event_id"]
            if headers["webhook-id"] != own_id and len(events) == 1:
                print("webhook: webhook-id is not the event id", file=sys.stderr, flush=True)
                self.answer(400)
                return
            for e in events:
                if e.get("action") == "checkpoint":
                    problem = verify_checkpoint(e)
                    if problem == "":  # Latchkey is down: try again later
                        self.answer(503)
                        return
                    if problem:
                        print(f"webhook: checkpoint verification failed: {problem}",
                              file=sys.stderr, flush=True)
                        self.answer(401)
                        return
            if delay:
                time.sleep(delay)
            append(out, events)
            self.answer(204)

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


def hec(port, out):
    token = os.environ["HEC_TOKEN"]
    sourcetype = os.environ["HEC_SOURCETYPE"]

    def problem(headers, path, data):
        if path != "/services/collector/event":
            return f"path {path}"
        if headers.get("authorization") != f"Splunk {token}":
            return "authorization"
        if headers.get("content-type") != "application/json":
            return "content-type"
        events = []
        decoder = json.JSONDecoder()
        text = data.decode("utf-8")
        i = 0
        while i < len(text):
            while i < len(text) and text[i].isspace():
                i += 1
            if i == len(text):
                break
            obj, i = decoder.raw_decode(text, i)
            if sorted(obj) != ["event", "source", "sourcetype", "time"]:
                return f"keys {sorted(obj)}"
            if obj["source"] != "latchkey" or obj["sourcetype"] != sourcetype:
                return "source/sourcetype"
            if not isinstance(obj["time"], float):
                return "time is not epoch seconds"
            e = obj["event"]
            if isinstance(e, dict) and e.get("action") == "checkpoint":
                if sorted(e) != ["action", "app_id", "checkpoint_id", "created_at", "key_id",
                                 "note", "root_hash", "tree_size"]:
                    return f"checkpoint keys {sorted(e)}"
            elif not isinstance(e, dict) or not {"app_id", "seq", "event_id", "hash"} <= set(e):
                return "event is not an audit record"
            events.append(e)
        if not events:
            return "no event"
        return events

    class Handler(Quiet):
        def do_POST(self):
            data = self.body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            result = problem(headers, self.path, data)
            if isinstance(result, str):
                print(f"hec: wrong request shape: {result}", file=sys.stderr, flush=True)
                self.answer(400, json.dumps({"text": result, "code": 6}).encode())
                return
            append(out, result)
            self.answer(200, b'{"text":"Success","code":0}')

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


# RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
HEADER = re.compile(
    r"^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) "
    r"([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) "
    r"(\[latchkey@32473((?: [^ =\]\"]{1,32}=\"(?:[^\"\\\]]|\\[\"\\\]])*\")+)\]) (.*)$"
)
PARAM = re.compile(r" ([^ =\]\"]{1,32})=\"((?:[^\"\\\]]|\\[\"\\\]])*)\"")


def syslog_events(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = HEADER.match(line)
            if not m:
                raise SystemExit(f"syslog line {n} is not an RFC 5424 message: {line[:200]}")
            params = {k: re.sub(r"\\(.)", r"\1", v) for k, v in PARAM.findall(m.group(8))}
            msg = json.loads(m.group(9))
            if msg.get("action") == "checkpoint":
                if m.group(6) != "checkpoint" or params["action"] != "checkpoint" \
                        or params["app"] != msg["app_id"] \
                        or params["treeSize"] != str(msg["tree_size"]) \
                        or params["rootHash"] != msg["root_hash"] \
                        or params["keyId"] != msg["key_id"] \
                        or params["checkpointId"] != msg["checkpoint_id"]:
                    raise SystemExit(f"syslog line {n}: structured data does not name the checkpoint")
                out.append(msg)
                continue
            if m.group(6) != msg["action"] or params["action"] != msg["action"]:
                raise SystemExit(f"syslog line {n}: MSGID/action differ")
            if params["app"] != msg["app_id"] or params["revision"] != str(msg["seq"]) \
                    or params["eventId"] != msg["event_id"] or params["actor"] != msg["actor"]:
                raise SystemExit(f"syslog line {n}: structured data does not name the event")
            out.append(msg)
    return out


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def check_stream(name, expected, checkpoints, got):
    want = {}
    for app_id, seq, event_id in expected:
        want.setdefault(app_id, []).append((seq, event_id))
    seen = {app_id: set() for app_id in want}
    seen_cp = set()
    duplicates = 0
    for e in got:
        app_id = e["app_id"]
        if app_id not in want:
            continue
        if e.get("action") == "checkpoint":
            size = e["tree_size"]
            # After the event of its revision (the checkpoint is signed over it).
            if size not in seen[app_id]:
                raise SystemExit(f"{name}: {app_id} checkpoint {size} arrived before event {size}")
            seen_cp.add(e["checkpoint_id"])
            continue
        seq = e["seq"]
        ids = dict(want[app_id])
        if seq in ids and ids[seq] != e["event_id"]:
            raise SystemExit(f"{name}: {app_id} seq {seq} has another event id")
        # In order: every earlier expected event of the application arrived before this one.
        missing = [s for s, _ in want[app_id] if s < seq and s not in seen[app_id]]
        if missing:
            raise SystemExit(f"{name}: {app_id} seq {seq} arrived before {missing[:5]}")
        if seq in seen[app_id]:
            duplicates += 1
        seen[app_id].add(seq)
    for app_id, items in want.items():
        lost = [s for s, _ in items if s not in seen[app_id]]
        if lost:
            raise SystemExit(f"{name}: {app_id} never received {lost[:10]} ({len(lost)} events)")
    lost_cp = [c for c in checkpoints if c[2] not in seen_cp]
    if lost_cp:
        raise SystemExit(f"{name}: never received checkpoints {lost_cp[:5]} ({len(lost_cp)})")
    total = sum(len(v) for v in want.values())
    print(f"{name}: {total} events and {len(checkpoints)} signed checkpoints, all received in "
          f"order per application; {duplicates} duplicate events")


def read_triples(path):
    """The non-blank lines of `path` as (app_id, number, id) triples."""
    triples = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                app_id, number, ident = line.split()
                triples.append((app_id, int(number), ident))
    return triples


def check(expected_path, checkpoints_path, webhook_out, hec_out, syslog_file, syslog_tls_file):
    expected = read_triples(expected_path)  # (app_id, seq, event_id)
    checkpoints = read_triples(checkpoints_path)  # (app_id, size, checkpoint_id)
    if not checkpoints:
        raise SystemExit("no checkpoint was signed during the run")
    check_stream("webhook", expected, checkpoints, read_lines(webhook_out))
    check_stream("splunk_hec", expected, checkpoints, read_lines(hec_out))
    check_stream("syslog", expected, checkpoints, syslog_events(syslog_file))
    check_stream("syslog over TLS", expected, checkpoints, syslog_events(syslog_tls_file))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "webhook":
        webhook(int(sys.argv[2]), sys.argv[3])
    elif cmd == "hec":
        hec(int(sys.argv[2]), sys.argv[3])
    elif cmd == "check":
        check(*sys.argv[2:8])
    else:
        raise SystemExit(__doc__)
