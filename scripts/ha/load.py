#!/usr/bin/env python3
"""Load and checks of scripts/ha/failover-test.sh (standard library only).

Against two Latchkey instances on one highly available PostgreSQL: a steady write load
(feature grants and revocations of a few clients, secret rotations of another with
hoursToLive=0) and a steady read load on both instances (access decisions about those clients,
authenticated GETs with the current and the retired secrets). After `--steady` seconds it runs
`--kill` (which kills the primary), goes on until writes succeed again and `--steady` more
seconds passed, then measures:

* write unavailability: first failed write after the kill to the first acknowledged write
  after it; read unavailability the same, per instance;
* acknowledged writes lost: acknowledged writes whose audit event (found by the request id the
  write was answered with) is not in the audit log after the failover;
* stale answers: a request sent after a revocation (or a secret's retirement) was
  acknowledged that was still allowed. Decisions sent with `atLeastAsFresh` (the revision of
  the client's last acknowledged write) have no window at all; decisions without it and
  authentications read per-instance snapshots, which may lag a change made through the other
  instance by the notification's delivery time (docs/snapshots-and-changes.md, "The bound"),
  so they count as stale only when sent more than `--window` seconds after the
  acknowledgement (those inside it are reported apart).

Prints a summary and one JSON line (`RESULT {...}`); exits 1 on a stale answer, on a lost
acknowledged write when `--sync` says synchronous mode, or when writes never came back.
"""

import argparse
import base64
import http.client
import json
import random
import subprocess
import sys
import threading
import time

SUBJECTS = 4
REQUEST_TIMEOUT = 15.0


class Http:
    """One keep-alive connection to an instance; reconnects after any error."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def call(self, method, path, body=None, auth=None):
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        if auth:
            headers["Authorization"] = auth
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
            self.conn.request(method, path, body=body, headers=headers)
            res = self.conn.getresponse()
            data = res.read()
            return res.status, {k.lower(): v for k, v in res.getheaders()}, data
        except (OSError, http.client.HTTPException) as e:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return None, {}, str(e).encode()


def basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def must(result, status, what):
    got, _, data = result
    if got != status:
        sys.exit(f"setup: {what}: {got} {data[:300]!r}")
    return json.loads(data) if data else None


class State:
    """What the tester knows was acknowledged, shared by the threads."""

    def __init__(self):
        self.lock = threading.Lock()
        # Per subject: granted?, ack time of the last acknowledged write, its revision, time
        # the next write was sent (None: none in flight), uncertain (an unanswered write).
        self.subjects = {}
        self.secret = None          # the rotor's current secret
        self.retired = []           # (secret, acknowledged retirement time)
        self.rotation_in_flight = None
        self.acked = []             # (time, op, request id, revision)
        self.writes = []            # (sent, answered, ok)
        self.reads = {"a": [], "b": []}
        self.stale = []
        self.in_window = 0
        self.judged = 0
        self.not_reached = 0
        self.new_secret_refused = 0
        self.max_latency = 0.0
        self.slow = 0


def writer(st, clients, app, owner_auth, names, rotor, stop, interval):
    i = 0
    while not stop.is_set():
        inst = clients[i % 2]
        if i % 5 == 4:
            with st.lock:
                st.rotation_in_flight = time.time()
            sent = time.time()
            status, headers, data = inst.call(
                "PUT", f"/config/{app}/clients/{rotor}/secret", {"hoursToLive": 0}, owner_auth)
            answered = time.time()
            ok = status == 200
            with st.lock:
                st.rotation_in_flight = None
                if ok:
                    body = json.loads(data)
                    if st.secret is not None:
                        st.retired.append((st.secret, answered))
                    st.secret = body["_secret"]
                    st.acked.append((answered, "rotate", headers.get("x-request-id"),
                                     int(headers.get("x-latchkey-revision", 0))))
                elif status is None or status >= 500:
                    # Maybe done, maybe not: the secret we hold may be retired now. Trust
                    # nothing about it until the next acknowledged rotation.
                    if st.secret is not None:
                        st.retired.append((st.secret, None))
                    st.secret = None
                st.writes.append((sent, answered, ok))
        else:
            sid = list(st.subjects)[i % SUBJECTS]
            with st.lock:
                s = st.subjects[sid]
                grant = not s["granted"] if not s["uncertain"] else True
                s["next_sent"] = time.time()
            sent = time.time()
            body = {"name": names[sid], "features": ["direct_read_access"] if grant else [],
                    "ipWhitelist": ["0.0.0.0/0"]}
            status, headers, data = inst.call("PUT", f"/config/{app}/clients/{sid}", body, owner_auth)
            answered = time.time()
            ok = status == 200
            with st.lock:
                s = st.subjects[sid]
                s["next_sent"] = None
                if ok:
                    s.update(granted=grant, ack=answered, uncertain=False)
                    # A write that changed nothing (the state was already so, after an
                    # unanswered write that did commit) has no revision and no audit event.
                    if "x-latchkey-revision" in headers:
                        s["revision"] = int(headers["x-latchkey-revision"])
                        st.acked.append((answered, "grant" if grant else "revoke",
                                         headers.get("x-request-id"), s["revision"]))
                elif status is None or status >= 500:
                    s["uncertain"] = True
                st.writes.append((sent, answered, ok))
        i += 1
        stop.wait(interval)


def reader(st, name, inst, app, owner_auth, rotor, stop, window):
    rnd = random.Random(name)
    while not stop.is_set():
        if rnd.random() < 0.7:
            sid = rnd.choice(list(st.subjects))
            fresh = rnd.random() < 0.5
            with st.lock:
                s = dict(st.subjects[sid])
            body = {"clientId": sid, "entityType": "user", "access": "read", "record": "any",
                    "attributes": ["email"]}
            if fresh and s["revision"]:
                body["consistency"] = {"atLeastAsFresh": str(s["revision"])}
            sent = time.time()
            status, _, data = inst.call("POST", f"/config/{app}/access/check", body, owner_auth)
            answered = time.time()
            answer_ok = status == 200
            if status == 400 and b"not reached" in data:
                with st.lock:
                    st.not_reached += 1
                answer_ok = True
            with st.lock:
                now = st.subjects[sid]
                judge = (status == 200 and not s["granted"] and not s["uncertain"]
                         and s["next_sent"] is None
                         and not now["uncertain"] and s["ack"] is not None
                         # No grant of this client was sent before the answer came.
                         and now["ack"] == s["ack"]
                         and (now["next_sent"] is None or now["next_sent"] > answered))
                if judge:
                    allowed = json.loads(data).get("allowed")
                    since = sent - s["ack"]
                    if "consistency" in body or since > window:
                        st.judged += 1
                        if allowed:
                            st.stale.append({"instance": name, "what": "decision",
                                             "fresh": "consistency" in body,
                                             "sent_after_ack_s": round(since, 4)})
                    elif allowed:
                        st.in_window += 1
        else:
            with st.lock:
                retired = [r for r in st.retired if r[1] is not None]
                current = st.secret
                rotating = st.rotation_in_flight is not None
            use_old = retired and rnd.random() < 0.5
            if use_old:
                secret, at = rnd.choice(retired[-5:])
            elif current:
                secret, at = current, None
            else:
                stop.wait(0.01)
                continue
            sent = time.time()
            status, _, _ = inst.call("GET", f"/config/{app}/clients/{rotor}", None, basic(rotor, secret))
            answered = time.time()
            answer_ok = status in (200, 401)
            with st.lock:
                if use_old and status == 200:
                    since = sent - at
                    if since > window:
                        st.stale.append({"instance": name, "what": "retired secret accepted",
                                         "sent_after_ack_s": round(since, 4)})
                    else:
                        st.in_window += 1
                elif use_old and status == 401:
                    st.judged += 1
                elif not use_old and status == 401 and not rotating and st.secret == secret:
                    st.new_secret_refused += 1
        with st.lock:
            latency = answered - sent
            st.max_latency = max(st.max_latency, latency)
            if latency > 5.0:
                st.slow += 1
            st.reads[name].append((sent, answered, answer_ok))
        stop.wait(0.005)


def unavailability(events, after):
    """(seconds, first failure): from the first failure sent at or after `after` (less a
    second) to the answer of the first success sent after the *last* failure; None when it
    never came back. (A few answers may succeed inside the gap without the database, such as
    a wrong secret already refused: they do not shorten it.)"""
    events = sorted(e for e in events if e[0] >= after - 1)
    fails = [e for e in events if not e[2]]
    if not fails:
        return 0.0, None
    back = next((e for e in events if e[2] and e[0] > fails[-1][0]), None)
    if back is None:
        return None, fails[0][0]
    return back[1] - fails[0][0], fails[0][0]


def audit_request_ids(inst, app, owner_auth):
    ids, path = set(), f"/config/{app}/audit?order=oldest&limit=1000"
    while path:
        status, _, data = inst.call("GET", path, None, owner_auth)
        if status != 200:
            return None
        page = json.loads(data)
        ids.update(e.get("request_id") for e in page["events"])
        path = page.get("next")
    return ids


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ports", default="18181,18182")
    p.add_argument("--token", required=True)
    p.add_argument("--kill", required=True, help="command that kills the primary")
    p.add_argument("--steady", type=float, default=5.0)
    p.add_argument("--window", type=float, default=0.5)
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--max-outage", type=float, default=90.0)
    p.add_argument("--sync", choices=["on", "off"], default="on")
    args = p.parse_args()
    ports = [int(x) for x in args.ports.split(",")]
    a = Http(ports[0])
    op = f"Bearer {args.token}"

    app_body = must(a.call("POST", "/apps", {"name": f"failover-{time.time_ns()}", "region": "us"}, op),
                    201, "create app")
    app = app_body["app_id"]
    owner_auth = basic(app_body["owner"]["_id"], app_body["owner"]["_secret"])
    must(a.call("POST", f"/config/{app}/entityTypes",
                {"name": "user", "attr_defs": [{"name": "email", "type": "string"}]}, owner_auth),
         201, "entity type")
    st = State()
    names = {}
    for k in range(SUBJECTS):
        status, headers, data = a.call("POST", f"/config/{app}/clients",
                                       {"name": f"subject{k}", "features": ["direct_read_access"]}, owner_auth)
        body = must((status, headers, data), 201, "subject")
        names[body["_id"]] = f"subject{k}"
        st.subjects[body["_id"]] = {"granted": True, "ack": None, "revision": 0,
                                    "uncertain": False, "next_sent": None}
    rotor = must(a.call("POST", f"/config/{app}/clients", {"name": "rotor", "features": ["owner"]}, op),
                 201, "rotor")
    st.secret = rotor["_secret"]
    rotor = rotor["_id"]

    stop = threading.Event()
    threads = [threading.Thread(target=writer, args=(st, [Http(p) for p in ports], app, owner_auth,
                                                      names, rotor, stop, args.interval))]
    for name, port in zip("ab", ports):
        for _ in range(2):
            threads.append(threading.Thread(target=reader, args=(st, name, Http(port), app, owner_auth,
                                                                  rotor, stop, args.window)))
    for t in threads:
        t.start()
    time.sleep(args.steady)
    killed_at = time.time()
    kill = subprocess.run(args.kill, shell=True, capture_output=True, text=True)
    print(f"killed the primary ({kill.stdout.strip() or kill.stderr.strip()})", flush=True)
    # Until writes are acknowledged again, then steady.
    deadline = killed_at + args.max_outage
    while time.time() < deadline:
        with st.lock:
            fails = [w[0] for w in st.writes if not w[2] and w[0] >= killed_at - 1]
            back = fails and any(w[2] and w[0] > min(fails) for w in st.writes)
            never_failed = not fails and time.time() > killed_at + 15
        if back or never_failed:
            break
        time.sleep(0.1)
    time.sleep(args.steady)
    stop.set()
    for t in threads:
        t.join(timeout=REQUEST_TIMEOUT + 5)

    write_down, _ = unavailability(st.writes, killed_at)
    read_down = {n: unavailability(st.reads[n], killed_at)[0] for n in "ab"}
    ids = None
    for _ in range(50):
        ids = audit_request_ids(a, app, owner_auth)
        if ids is not None:
            break
        time.sleep(0.2)
    lost = [w for w in st.acked if ids is not None and w[2] not in ids]
    result = {
        "sync": args.sync,
        "writes_acknowledged": len(st.acked),
        "write_unavailable_s": None if write_down is None else round(write_down, 2),
        "read_unavailable_s": {n: None if v is None else round(v, 2) for n, v in read_down.items()},
        "reads": {n: len(st.reads[n]) for n in "ab"},
        "acknowledged_writes_lost": len(lost) if ids is not None else None,
        "lost_window_s": round(killed_at - min(w[0] for w in lost), 3) if lost else 0,
        "stale_answers": len(st.stale),
        "judged_answers": st.judged,
        "allowed_inside_window": st.in_window,
        "revision_not_reached": st.not_reached,
        "new_secret_refused": st.new_secret_refused,
        "max_read_latency_s": round(st.max_latency, 3),
        "reads_over_5s": st.slow,
    }
    print(f"write unavailability  {result['write_unavailable_s']} s")
    print(f"read unavailability   A {result['read_unavailable_s']['a']} s, B {result['read_unavailable_s']['b']} s")
    print(f"acknowledged writes   {result['writes_acknowledged']}, lost {result['acknowledged_writes_lost']}")
    print(f"stale answers         {result['stale_answers']} of {result['judged_answers']} judged "
          f"({result['allowed_inside_window']} allowed inside the {args.window}s notification window)")
    print(f"slowest read          {result['max_read_latency_s']} s ({result['reads_over_5s']} over 5 s)")
    for s in st.stale[:10]:
        print("STALE", s)
    for w in lost[:10]:
        print(f"LOST {w[1]} revision {w[3]} request {w[2]}, acknowledged {w[0] - killed_at:+.3f} s from the kill")
    print("RESULT " + json.dumps(result), flush=True)
    failed = (st.stale or write_down is None or ids is None
              or (args.sync == "on" and lost) or st.slow)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
