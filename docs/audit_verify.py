#!/usr/bin/env python3
"""Verify a Latchkey audit export offline, with nothing but Python's standard library.

    latchkey audit export --app APP --format ndjson > audit.ndjson
    python3 audit_verify.py < audit.ndjson

Input: a complete export (no filters), oldest first, one event per line: the canonical event
plus "prev_hash" and "hash". For each event, hash = SHA-256(previous hash || canonical JSON of
the event without "prev_hash" and "hash"), canonical JSON being RFC 8785 (integers keep all
their digits). Prints the count and the head hash when every event hashes and links; compare
that head with the one you noted last time. Otherwise prints the first broken seq, exit status 2.
"""
import hashlib
import json
import sys
from decimal import Decimal


def number(x):
    if isinstance(x, int):
        return str(x)  # integers keep all their digits
    if x == 0:
        return "0"
    # The shortest digits that read back as x (repr), placed as ECMAScript's Number::toString.
    t = Decimal(repr(abs(x))).normalize().as_tuple()
    s = "".join(map(str, t.digits))
    k, n = len(s), t.exponent + len(s)
    if k <= n <= 21:
        r = s + "0" * (n - k)
    elif 0 < n <= 21:
        r = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        r = "0." + "0" * -n + s
    else:
        r = s[0] + ("." + s[1:] if k > 1 else "") + "e" + ("+" if n > 0 else "-") + str(abs(n - 1))
    return ("-" if x < 0 else "") + r


def canon(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    keys = sorted(v, key=lambda k: k.encode("utf-16-be"))  # RFC 8785: UTF-16 code units
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canon(v[k]) for k in keys) + "}"


def broken(seq, why):
    print(json.dumps({"status": "broken", "seq": seq, "message": why}))
    sys.exit(2)


def main():
    running, first, start_prev, expect, count = None, None, None, None, 0
    vouched = {}  # prunedThroughSeq -> prunedThroughHash, from checkpoint (audit.prune) events
    for line in sys.stdin:
        if not line.strip():
            continue
        e = json.loads(line)
        stored, prev = bytes.fromhex(e.pop("hash")), bytes.fromhex(e.pop("prev_hash"))
        seq = e["seq"]
        if running is None:
            first, start_prev, running = seq, prev, prev
            if seq == 1 and prev != bytes(32):
                broken(1, "the first event does not start from the genesis hash")
        elif seq != expect:
            broken(expect, "missing")
        if prev != running:
            broken(seq, "does not link to the previous event")
        h = hashlib.sha256(running + canon(e).encode("utf-8")).digest()
        if h != stored:
            broken(seq, "does not match its hash (edited)")
        if e["action"] == "audit.prune":
            vouched[e["changes"]["prunedThroughSeq"]] = e["changes"]["prunedThroughHash"]
        running, expect, count = h, seq + 1, count + 1
    if first is not None and first > 1 and vouched.get(first - 1) != start_prev.hex():
        broken(1, "events before %d are missing and no checkpoint accounts for them" % first)
    print(json.dumps({"status": "intact", "count": count, "first_seq": first,
                      "head_seq": None if expect is None else expect - 1,
                      "head_hash": None if running is None else running.hex()}))


if __name__ == "__main__":
    main()
