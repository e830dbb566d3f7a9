"""Login with Amazon: ``POST /auth/o2/token``, the refresh-token grant."""

from __future__ import annotations

import uuid

from ecauto_sandbox.protocol import Reply, Request
from ecauto_sandbox.state import LWA_ACCESS_TOKEN_LIFETIME, SandboxState

LWA_TOKEN_PATH = "/auth/o2/token"


def lwa_token(state: SandboxState, req: Request) -> Reply:
    """``POST /auth/o2/token`` with ``grant_type=refresh_token``.

    Error codes and HTTP status are UNCONFIRMED for LWA: OAuth 2 style ``invalid_client`` /
    ``invalid_grant`` / ``invalid_request`` / ``unsupported_grant_type`` with HTTP 400 here.
    """
    reply = Reply(400, service="lwa", operation="lwaToken")
    reply.headers["x-amzn-RequestId"] = reply.request_id = str(uuid.uuid4())
    form = req.form()

    def fail(code: str, description: str) -> Reply:
        reply.payload, reply.error_code = {"error": code, "error_description": description}, code
        return reply

    if req.method != "POST":
        return fail("invalid_request", "The request method must be POST.")
    with state.lock:
        call_no = state.injector.next_call("lwaToken")
        if state.injector.auth_server_error("lwaToken", call_no):
            reply.status, reply.faults = 500, ["auth_5xx"]
            return fail("server_error", "The authorization server encountered an unexpected condition.")
        for name in ("grant_type", "client_id", "client_secret"):
            if not form.get(name):
                return fail("invalid_request", f"The request is missing a required parameter : {name}")
        if form["grant_type"] != "refresh_token":
            # client_credentials (grantless operations) is not simulated.
            return fail("unsupported_grant_type", "The authorization grant type is not supported.")
        if form["client_id"] != state.lwa.client_id or form["client_secret"] != state.lwa.client_secret:
            return fail("invalid_client", "Client authentication failed")
        if not form.get("refresh_token"):
            return fail("invalid_request", "The request is missing a required parameter : refresh_token")
        if form["refresh_token"] != state.lwa.refresh_token:
            return fail("invalid_grant", "The request has an invalid grant parameter : refresh_token")
        token, expires_in = state.issue_access_token("lwa", None, LWA_ACCESS_TOKEN_LIFETIME, req.arrived)
    reply.status = 200
    reply.payload = {
        "access_token": token,
        "refresh_token": form["refresh_token"],
        "token_type": "bearer",
        "expires_in": expires_in,
    }
    return reply
