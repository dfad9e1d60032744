"""Keeps a backend's copy of an application's clients in step with Latchkey's change feed
(docs/snapshots-and-changes.md). APP, CREDS (client_id:secret of an owner), EVENTS (how many
to follow before exiting, for the example); the server at 127.0.0.1:18088."""
import base64, http.client, json, os

host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "18088"))
app, auth = os.environ["APP"], "Basic " + base64.b64encode(os.environ["CREDS"].encode()).decode()
clients, revision = {}, 0                       # the copy, and the revision it is at


def get(path):
    c = http.client.HTTPConnection(host, port)
    c.request("GET", path, headers={"Authorization": auth})
    return c.getresponse()


def load():
    """The revision first (the newest audit event), then a full read: the feed, followed from
    that revision, replays whatever the read may have missed (re-reading is harmless)."""
    global clients, revision
    events = json.load(get(f"/config/{app}/audit?limit=1"))["events"]
    revision = events[0]["seq"] if events else 0
    clients = {c["_id"]: c for c in json.load(get(f"/config/{app}/clients"))}
    print(f"loaded {len(clients)} clients at revision {revision}", flush=True)


def follow(limit):
    global revision
    res = get(f"/config/{app}/changes?after={revision}")
    event, ident = None, None
    while limit:
        line = res.readline().decode().rstrip("\n")
        if line.startswith("id: "):
            ident = int(line[4:])
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            change = json.loads(line[6:])
            target = change["target_client_id"]
            if event == "client.delete":
                clients.pop(target, None)
            elif target:   # re-read what changed (the event has no secrets, and need not have all)
                r = get(f"/config/{app}/clients/{target}")
                if r.status == 200:
                    clients[target] = json.load(r)
            revision = ident                          # persist it to resume after a restart
            print(f"{ident} {event} -> {len(clients)} clients", flush=True)
            limit -= 1


load()
follow(int(os.environ.get("EVENTS", "3")))
