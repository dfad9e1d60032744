"""Latchkey → Latchkey with the vendor's Python libraries (issue #18).

The source application (SOURCE_URL) takes signed requests and shows secrets, as the vendor's Config
API does; tests/vendor_libs/run.sh imported it into a second database served by a second server
(TARGET_URL) with `latchkey import --prune --verify`. Here every client of the source, with the
source's credentials and the libraries' defaults (signed requests), asks both servers the same
questions; the answers (the access decision for each client) must be the same.
"""

import os
import sys
import unittest

import janrain.capture
import janrain_datalib
from janrain.capture import ApiResponseError

SOURCE = os.environ["SOURCE_URL"]
TARGET = os.environ["TARGET_URL"]
OWNER_ID = os.environ["OWNER_ID"]
OWNER_SECRET = os.environ["OWNER_SECRET"]


def outcome(url, client_id, secret, call, **params):
    """The answer, or the error's code and name: what the client is allowed to do."""
    api = janrain.capture.Api(url, {"client_id": client_id, "client_secret": secret})
    try:
        answer = api.call(call, **params)
    except ApiResponseError as e:
        return ("error", e.code, e.response.get("error"))
    if call == "clients/list":
        answer["results"] = sorted(answer["results"], key=lambda c: c["client_id"])
    return answer


class Migration(unittest.TestCase):
    maxDiff = None

    def test_every_client_gets_the_same_decisions_on_both_sides(self):
        owner = janrain.capture.Api(
            SOURCE, {"client_id": OWNER_ID, "client_secret": OWNER_SECRET}
        )
        clients = owner.call("clients/list")["results"]
        self.assertGreaterEqual(len(clients), 5)
        self.assertTrue(all("client_secret" in c for c in clients), "show_secrets")
        questions = [("clients/list", {}), ("settings/items", {}), ("entityType.list", {})]
        for type_name in ("user", "device"):
            for access in ("read", "write"):
                questions.append(
                    ("entityType.getAccessSchema",
                     {"type_name": type_name, "access_type": access})
                )
        compared = 0
        for c in clients:
            for call, params in questions:
                before = outcome(SOURCE, c["client_id"], c["client_secret"], call, **params)
                after = outcome(TARGET, c["client_id"], c["client_secret"], call, **params)
                self.assertEqual(after, before, (c["description"], call, params))
                compared += 1
        # Not a vacuous comparison: some answers are refusals, some restricted views.
        self.assertEqual(compared, len(clients) * len(questions))
        by_name = {c["description"]: c for c in clients}
        mailer = by_name["mailer"]
        seen = outcome(TARGET, mailer["client_id"], mailer["client_secret"],
                       "entityType.getAccessSchema", type_name="user", access_type="read")
        self.assertEqual(
            [a["name"] for a in seen["schema"]["attr_defs"]],
            ["id", "uuid", "created", "lastUpdated", "email", "givenName"],
        )
        self.assertEqual(
            outcome(TARGET, mailer["client_id"], mailer["client_secret"], "clients/list"),
            ("error", 403, "client_permission_error"),
        )

    def test_datalib_sees_the_same_application(self):
        source = janrain_datalib.get_app(SOURCE, OWNER_ID, OWNER_SECRET)
        target = janrain_datalib.get_app(TARGET, OWNER_ID, OWNER_SECRET)
        self.assertEqual(target.clients_as_dict(), source.clients_as_dict())
        self.assertEqual(
            target.get_client(OWNER_ID).settings.get_all(),
            source.get_client(OWNER_ID).settings.get_all(),
        )


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
