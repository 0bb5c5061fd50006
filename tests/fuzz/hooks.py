"""schemathesis hooks for scripts/fuzz.

A list's `cursor` is the `nextCursor` of its previous page, signed by the server (HMAC): no
schema can describe the strings it accepts, so a generated one is always refused (400), even
in a case that is otherwise valid. Such cases are sent without it; cases generated to be
invalid keep it (a bad cursor must be refused, and is). Forged and foreign cursors are tested
in the Rust suite (crates/ims/tests).
"""

import os

import schemathesis


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    meta = case.meta
    positive = meta is None or meta.generation.mode.is_positive
    if positive and case.query and "cursor" in case.query:
        del case.query["cursor"]


@schemathesis.hook("before_call")
def keep_own_session(ctx, case, **kwargs):
    """The run's own admin account changes into another one.

    A new password ends every session of the account (as it should), and with it the token the
    whole run uses: the rest of the run would test nothing but 401s. The run finds its own id
    (GET /auth/me, GET /users) and may pick it for PATCH /users/{id}; such a change goes to a
    seeded member of staff instead.
    """
    own = os.environ["IMS_FUZZ_ADMIN_ID"]
    params = case.path_parameters
    if case.method.upper() == "PATCH" and params and params.get("id") == own and case.path == "/users/{id}":
        params["id"] = os.environ["IMS_FUZZ_OTHER_USER_ID"]
