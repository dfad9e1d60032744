"""An auditor's independent check of Latchkey's audit evidence, over HTTP only.

Written from RFC 6962 / RFC 9162 and the C2SP signed-note and tlog-checkpoint specifications,
not from Latchkey's code: the only library is `cryptography` (Ed25519). Environment (set by
run.sh): LATCHKEY_URL, APP_ID, OWNER_ID, OWNER_SECRET. Prints `N passed, M failed`.
"""

import base64
import hashlib
import json
import os
import sys
import time
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

URL = os.environ["LATCHKEY_URL"]
APP = os.environ["APP_ID"]
AUTH = "Basic " + base64.b64encode(
    f"{os.environ['OWNER_ID']}:{os.environ['OWNER_SECRET']}".encode()
).decode()

# ---------------------------------------------------------------- RFC 6962 / RFC 9162


def sha(b):
    return hashlib.sha256(b).digest()


def leaf(event_hash):
    return sha(b"\x00" + event_hash)


def node(l, r):
    return sha(b"\x01" + l + r)


def mth(leaves):
    """RFC 6962 §2.1 Merkle Tree Hash of a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return sha(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def shift_while_even(fn, sn):
    """RFC 9162: right-shift fn and sn equally until LSB(fn) is set or fn is 0."""
    while not fn & 1 and fn != 0:
        fn >>= 1
        sn >>= 1
    return fn, sn


def verify_inclusion(index, size, leaf_hash, proof, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            fn, sn = shift_while_even(fn, sn)
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m, n, root1, root2, proof):
    """RFC 9162 §2.1.4.2."""
    if m < 1 or m > n:
        return False
    if m == n:
        return not proof and root1 == root2
    if m & (m - 1) == 0:
        proof = [root1] + list(proof)
    if not proof:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            fn, sn = shift_while_even(fn, sn)
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


# ---------------------------------------------------------------- C2SP signed note


def parse_vkey(text):
    name, keyhash, key = text.strip().split("+", 2)  # the base64 key may hold "+"
    raw = base64.b64decode(key)
    assert raw[0] == 1 and len(raw) == 33, "an Ed25519 verifier key"
    assert sha(name.encode() + b"\n" + raw)[:4].hex() == keyhash, "key hash"
    return name, bytes.fromhex(keyhash), Ed25519PublicKey.from_public_bytes(raw[1:])


def open_checkpoint(note, vkey):
    """Returns (origin, size, root) if `note` carries a valid signature by `vkey`, else raises."""
    name, keyhash, public = vkey
    body, sigs = note.rsplit("\n\n", 1)
    body += "\n"
    for line in sigs.splitlines():
        assert line.startswith("\u2014 "), line
        signer, sig = line[2:].split(" ", 1)
        blob = base64.b64decode(sig)
        if signer == name and blob[:4] == keyhash:
            public.verify(blob[4:], body.encode())
            origin, size, root = body.split("\n")[:3]
            return origin, int(size), base64.b64decode(root)
    raise InvalidSignature("no signature by the verifier key")


# ---------------------------------------------------------------- HTTP


def get(path, auth=True):
    req = urllib.request.Request(URL + path)
    if auth:
        req.add_header("Authorization", AUTH)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def post_client(name):
    req = urllib.request.Request(
        f"{URL}/config/{APP}/clients",
        data=json.dumps({"name": name}).encode(),
        headers={"Authorization": AUTH, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as res:
        assert res.status == 201


def export():
    status, text = get(f"/config/{APP}/audit?format=ndjson")
    assert status == 200, text
    return [line for line in text.splitlines() if line]


def event_hash(line):
    """The chain hash recomputed from the event's content (docs/audit.md, the hash recipe)."""
    e = json.loads(line)
    prev = bytes.fromhex(e.pop("prev_hash"))
    claimed = bytes.fromhex(e.pop("hash"))
    canon = json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha(prev + canon.encode()), claimed, prev


def chain_leaves(lines):
    """Leaves of an export, or raises naming the first bad event."""
    prev, leaves = bytes(32), []
    for i, line in enumerate(lines, 1):
        computed, claimed, linked = event_hash(line)
        if computed != claimed:
            raise ValueError(f"event {i}: content does not match its hash")
        if linked != prev or json.loads(line)["seq"] != i:
            raise ValueError(f"event {i}: out of place")
        prev = claimed
        leaves.append(leaf(claimed))
    return leaves


def wait_checkpoint(size):
    deadline = time.time() + 30
    while True:
        status, text = get(f"/config/{APP}/audit/checkpoint")
        if status == 200 and int(text.split("\n")[1]) >= size:
            return text
        assert time.time() < deadline, f"no checkpoint of size {size}: {status} {text}"
        time.sleep(0.2)


def b64list(body):
    return [base64.b64decode(h) for h in json.loads(body)["hashes"]]


# ---------------------------------------------------------------- the checks

passed, failed = 0, 0


def check(name, ok):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {name}")
    else:
        failed += 1
        print(f"FAIL  {name}")


def detected(fn):
    try:
        return not fn()
    except (ValueError, InvalidSignature, AssertionError):
        return True


for i in range(5):
    post_client(f"audited {i}")
lines1 = export()
cp1 = wait_checkpoint(len(lines1))
status, keys = get("/audit/keys", auth=False)
vkey = parse_vkey(json.loads(keys)["keys"][-1]["key"])
origin, size1, root1 = open_checkpoint(cp1, vkey)
check("checkpoint origin names the application", origin == f"auditor.example.test/audit/{APP}")
leaves1 = chain_leaves(lines1)[:size1]
check(f"the export's first {size1} events give the signed root", mth(leaves1) == root1)

all_ok = True
for rev in range(1, size1 + 1):
    status, body = get(f"/config/{APP}/audit/proof/inclusion?revision={rev}&size={size1}")
    p = json.loads(body)
    all_ok &= status == 200 and p["leaf_index"] == rev - 1 and p["tree_size"] == size1
    all_ok &= verify_inclusion(rev - 1, size1, leaves1[rev - 1], b64list(body), root1)
check(f"every one of {size1} inclusion proofs verifies", all_ok)

for i in range(7):
    post_client(f"later {i}")
lines2 = export()
cp2 = wait_checkpoint(len(lines2))
_, size2, root2 = open_checkpoint(cp2, vkey)
leaves2 = chain_leaves(lines2)[:size2]
check("the second checkpoint's root", mth(leaves2) == root2 and size2 > size1)
status, body = get(f"/config/{APP}/audit/proof/consistency?from={size1}&to={size2}")
proof = b64list(body)
check("the consistency proof between the checkpoints verifies",
      status == 200 and verify_consistency(size1, size2, root1, root2, proof))

# Tampering, each detected.
edited = list(lines1)
edited[2] = edited[2].replace('"audited 0"', '"audited 0 (edited)"', 1)
check("an edited event is detected", detected(lambda: mth(chain_leaves(edited)[:size1]) == root1))
removed = lines1[:3] + lines1[4:]
check("a removed event is detected", detected(lambda: mth(chain_leaves(removed)[:size1]) == root1))
reordered = list(lines1)
reordered[3], reordered[4] = reordered[4], reordered[3]
check("a reordered pair is detected",
      detected(lambda: mth(chain_leaves(reordered)[:size1]) == root1))
# Even re-hashed consistently (someone with database access), a rewritten leaf changes the root.
swapped = list(leaves1)
swapped[3], swapped[4] = swapped[4], swapped[3]
check("a reordered pair of leaves changes the root", mth(swapped) != root1)
other = Ed25519PrivateKey.generate()
body1 = cp1.rsplit("\n\n", 1)[0] + "\n"
forged = body1 + "\n\u2014 " + vkey[0] + " " + base64.b64encode(
    vkey[1] + other.sign(body1.encode())).decode() + "\n"
check("a checkpoint signed by another key is refused",
      detected(lambda: open_checkpoint(forged, vkey) is not None))
altered = cp1.replace(f"\n{size1}\n", f"\n{size1 + 1}\n", 1)
check("a checkpoint with an altered size is refused",
      detected(lambda: open_checkpoint(altered, vkey) is not None))
fork = list(leaves1)
fork[-1] = leaf(b"\x07" * 32)
check("a consistency proof between forks does not verify",
      not verify_consistency(size1, size2, mth(fork), root2, proof))
status, body = get(f"/config/{APP}/audit/proof/inclusion?revision=2&size={size1}")
check("an inclusion proof does not verify another event",
      not verify_inclusion(1, size1, leaves1[2], b64list(body), root1))

# Bad input is a 400 with a message, never a 500.
for path in [f"proof/inclusion?revision={size2 + 5}&size={size2}",
             f"proof/inclusion?revision=1&size={size2 + 1000}",
             "proof/consistency?from=5&to=2", "proof/consistency?from=x&to=2"]:
    status, body = get(f"/config/{APP}/audit/{path}")
    check(f"400 for {path}", status == 400 and "errors" in json.loads(body))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
