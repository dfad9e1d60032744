"""The vendor's own Python libraries, with their defaults, against a live Latchkey server.

`janrain.capture.Api(url, defaults)` signs every request (`sign_requests=True`), and
`janrain_datalib.get_app(url, client_id, client_secret)` builds exactly that Api. The
application under test was created with `latchkey apps create --signed-requests`.

Run by tests/vendor_libs/run.sh, which starts the server and passes:
LATCHKEY_URL, OWNER_ID, OWNER_SECRET, APP_ID, LATCHKEY_BIN (and the server's environment).
"""

import os
import subprocess
import sys
import time
import unittest
from unittest import mock

import janrain.capture
import janrain_datalib
from janrain.capture import ApiResponseError

URL = os.environ["LATCHKEY_URL"]
OWNER_ID = os.environ["OWNER_ID"]
OWNER_SECRET = os.environ["OWNER_SECRET"]
APP_ID = os.environ["APP_ID"]


def next_second():
    """The library's Date has one-second resolution: the same write with the same parameters in
    the same second is the same signature, which the server refuses as a replay (a repeated
    read is answered). Writes that repeat themselves wait for the next second, as a caller of
    the vendor's API must."""
    time.sleep(1.05 - (time.time() % 1.0))


def frozen_date():
    """The library reads its Date from `time.gmtime()`: held still, every call in the block
    carries the same Date, so identical calls are identical signed requests (what two calls in
    the same second are), whatever the machine's speed."""
    now = time.gmtime()
    return mock.patch("janrain.capture.api.time.gmtime", return_value=now)


class VendorLibraries(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.app = janrain_datalib.get_app(URL, OWNER_ID, OWNER_SECRET)
        # The library's defaults: signed requests, nothing else set.
        self.assertTrue(self.app.api.sign_requests)

    def test_clients_features_allow_lists_secrets(self):
        app = self.app
        clients = app.clients_as_dict()
        self.assertIn(OWNER_ID, clients)
        self.assertEqual(clients[OWNER_ID]["features"], ["owner"])

        client = app.get_client()
        new_id = client.create("compat client", features=["direct_read_access"])
        self.assertEqual(len(new_id), 32)
        # The library keeps the secret `clients/add` answered with.
        secret = app.get_cache("clients.{}.client_secret".format(new_id))
        self.assertEqual(len(secret), 32)
        client.set_features(["direct_access", "access_issuer"])
        client.set_description("compat client renamed")
        client.set_whitelist(["127.0.0.0/8", "10.0.0.0/8"])
        app.del_cache()
        next_second()
        listed = app.clients_as_dict()[new_id]
        self.assertEqual(
            {k: listed[k] for k in ("description", "features", "whitelist")},
            {
                "description": "compat client renamed",
                "features": ["access_issuer", "direct_access"],
                "whitelist": ["127.0.0.0/8", "10.0.0.0/8"],
            },
        )
        self.assertNotIn("client_secret", listed, "shown once unless show_secrets")

        # The new client signs its own calls with the secret it was given.
        own = janrain.capture.Api(URL, {"client_id": new_id, "client_secret": secret})
        self.assertEqual(own.call("settings/items")["stat"], "ok")

        # Reset: during the grace period both secrets sign; then only the new one.
        new_secret = client.reset_secret(hours_to_live=1)
        self.assertNotEqual(new_secret, secret)
        for s in (secret, new_secret):
            api = janrain.capture.Api(URL, {"client_id": new_id, "client_secret": s})
            self.assertEqual(api.call("settings/keys", for_client_id=new_id)["stat"], "ok")
        newest = janrain_datalib.get_app(URL, new_id, new_secret)
        # A non-owner cannot manage clients: the vendor's permission error.
        with self.assertRaises(janrain_datalib.exceptions.ApiAuthError) as refused:
            newest.clients_as_dict()
        self.assertEqual(refused.exception.code, 403)

        # A wrong secret is invalid client credentials (402).
        wrong = janrain.capture.Api(URL, {"client_id": new_id, "client_secret": "x" * 32})
        with self.assertRaises(ApiResponseError) as failed:
            wrong.call("settings/items")
        self.assertEqual(failed.exception.code, 402)

        # The allow list applies to signed requests: this test calls from 127.0.0.1.
        client.set_whitelist(["10.0.0.0/8"])
        api = janrain.capture.Api(URL, {"client_id": new_id, "client_secret": new_secret})
        with self.assertRaises(ApiResponseError) as outside:
            api.call("settings/items")
        self.assertEqual(outside.exception.code, 403)
        self.assertEqual(
            outside.exception.response["error"], "client_permission_error"
        )
        client.delete()
        app.del_cache()
        next_second()
        self.assertNotIn(new_id, app.clients_as_dict())

    def test_identical_signed_reads_are_answered_and_writes_refused(self):
        api = janrain.capture.Api(
            URL, {"client_id": OWNER_ID, "client_secret": OWNER_SECRET}
        )
        app = janrain_datalib.get_app(URL, OWNER_ID, OWNER_SECRET)
        client = app.get_client()
        new_id = client.create("replay probe", features=["direct_read_access"])
        try:
            with frozen_date():
                # A polling loop: five identical signed clients/list calls, all answered alike.
                answers = [api.call("clients/list") for _ in range(5)]
                self.assertEqual(answers[0]["stat"], "ok")
                self.assertIn(new_id, [c["client_id"] for c in answers[0]["results"]])
                self.assertEqual(answers, [answers[0]] * 5)
                # The same with get_multi, and with datalib twice in a row (cache cleared).
                multi = [api.call("settings/get_multi", keys=["a", "b"]) for _ in range(2)]
                self.assertEqual(multi[1], multi[0])
                first = app.clients_as_dict()
                app.del_cache()
                self.assertEqual(app.clients_as_dict(), first)
                # A write: the first is applied, the identical second refused as a replay.
                client.set_description("replay probe renamed")
                with self.assertRaises(janrain_datalib.exceptions.ApiAuthError) as replayed:
                    client.set_description("replay probe renamed")
                self.assertEqual(replayed.exception.code, 402)
                self.assertEqual(
                    replayed.exception.args[0],
                    "this signature was already used: a signed request cannot be replayed;"
                    " sign each request anew",
                )
            app.del_cache()
            next_second()
            self.assertEqual(
                app.clients_as_dict()[new_id]["description"], "replay probe renamed"
            )
        finally:
            next_second()
            client.delete()

    def test_settings(self):
        app = self.app
        owner = app.get_client(OWNER_ID)
        self.assertFalse(app.default_settings.set("site_name", "Compat"))
        self.assertFalse(owner.settings.set("site_name", "Owner's"))
        self.assertEqual(
            owner.settings.set_multi({"a": "1", "b": ["x", "y"]}),
            {"a": False, "b": False},
        )
        app.del_cache()
        self.assertEqual(owner.settings.get("site_name"), "Owner's")
        self.assertEqual(app.default_settings.get("site_name"), "Compat")
        self.assertEqual(owner.settings.get("b"), ["x", "y"])
        self.assertTrue(owner.settings.delete("a"))
        app.del_cache()
        next_second()
        everything = owner.settings.get_all()
        self.assertEqual(everything["site_name"], "Owner's")
        self.assertNotIn("a", everything)

        api = janrain.capture.Api(
            URL, {"client_id": OWNER_ID, "client_secret": OWNER_SECRET}
        )
        self.assertEqual(api.call("settings/get", key="site_name")["result"], "Owner's")
        self.assertEqual(api.call("settings/get_default", key="site_name")["result"], "Compat")
        self.assertEqual(
            sorted(api.call("settings/keys")["result"]), ["b", "site_name"]
        )
        self.assertEqual(api.call("entityType.list")["stat"], "ok")

    def test_clients_list_with_the_raw_api_and_show_secrets(self):
        api = janrain.capture.Api(
            URL, {"client_id": OWNER_ID, "client_secret": OWNER_SECRET}
        )
        owners = api.call("clients/list", has_features=["owner"])["results"]
        self.assertEqual([c["client_id"] for c in owners], [OWNER_ID])
        self.assertNotIn("client_secret", owners[0])
        # The operator switches show_secrets on: the list carries secrets as the vendor's does.
        subprocess.run(
            [os.environ["LATCHKEY_BIN"], "apps", "set", "--app-id", APP_ID,
             "--show-secrets", "true"],
            check=True, stdout=subprocess.DEVNULL,
        )
        try:
            next_second()
            owners = api.call("clients/list", has_features=["owner"])["results"]
            self.assertEqual(owners[0]["client_secret"], OWNER_SECRET)
        finally:
            subprocess.run(
                [os.environ["LATCHKEY_BIN"], "apps", "set", "--app-id", APP_ID,
                 "--show-secrets", "false"],
                check=True, stdout=subprocess.DEVNULL,
            )


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
