"""LwaAuth: token caching, the refresh margin, invalidation, errors without secrets."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests

from ecauto_lib.amazon.lwa import LwaAuth, refresh_margin
from ecauto_lib.errors import AuthError, CredentialsRefusedError, TransientError

TOKEN_URL = "https://api.amazon.com/auth/o2/token"
SECRET = "amzn1.oa2-cs.v1.SECRET-VALUE"
REFRESH = "Atzr|REFRESH-TOKEN-VALUE"


def make_response(status: int, body: Any, *, raw: bytes | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = raw if raw is not None else json.dumps(body).encode()
    response.url = TOKEN_URL
    response.request = requests.Request("POST", TOKEN_URL).prepare()
    return response


class FakeSession:
    """Records token requests and answers from a script (the last answer repeats)."""

    def __init__(self, *answers: requests.Response | Exception, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []
        self.delay = delay
        self._lock = threading.Lock()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        with self._lock:
            self.calls.append({"method": method, "url": url, **kwargs})
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if self.delay:
            time.sleep(self.delay)
        if isinstance(answer, Exception):
            raise answer
        return answer


def token_answer(token: str = "Atza|ACCESS-1", expires_in: int = 3600) -> requests.Response:
    return make_response(
        200,
        {"access_token": token, "token_type": "bearer", "expires_in": expires_in, "refresh_token": REFRESH},
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def auth_with(session: FakeSession, clock: Clock | None = None) -> LwaAuth:
    return LwaAuth(
        TOKEN_URL, "amzn1.application-oa2-client.ID", SECRET, REFRESH, session=session, clock=clock or Clock()
    )  # type: ignore[arg-type]


def test_posts_the_refresh_grant_form() -> None:
    session = FakeSession(token_answer())
    assert auth_with(session).access_token() == "Atza|ACCESS-1"
    (call,) = session.calls
    assert call["method"] == "POST" and call["url"] == TOKEN_URL
    assert call["data"] == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": "amzn1.application-oa2-client.ID",
        "client_secret": SECRET,
    }
    assert call["timeout"] == (5.0, 30.0)
    assert "scope" not in call["data"]


def test_token_is_reused_until_the_margin_then_refreshed() -> None:
    clock = Clock()
    session = FakeSession(token_answer("Atza|ONE"), token_answer("Atza|TWO"))
    auth = auth_with(session, clock)
    assert auth.access_token() == "Atza|ONE"
    clock.now += 3600 - 61  # 61 s left: still reused
    assert auth.access_token() == "Atza|ONE"
    assert auth.token_requests == 1
    clock.now += 1.5  # 59.5 s left: refreshed
    assert auth.access_token() == "Atza|TWO"
    assert auth.token_requests == 2


def test_short_lived_tokens_use_a_proportional_margin() -> None:
    assert refresh_margin(3600) == 60
    assert refresh_margin(36) == pytest.approx(0.6)
    clock = Clock()
    session = FakeSession(token_answer("Atza|ONE", expires_in=36), token_answer("Atza|TWO", expires_in=36))
    auth = auth_with(session, clock)
    auth.access_token()
    clock.now += 35.3  # 0.7 s left > 0.6 s margin
    assert auth.access_token() == "Atza|ONE"
    clock.now += 0.2
    assert auth.access_token() == "Atza|TWO"


def test_invalidate_forces_a_new_token_but_not_for_a_stale_rejection() -> None:
    session = FakeSession(token_answer("Atza|ONE"), token_answer("Atza|TWO"), token_answer("Atza|THREE"))
    auth = auth_with(session)
    auth.access_token()
    auth.invalidate()
    assert auth.access_token() == "Atza|TWO"
    auth.invalidate("Atza|ONE")  # another caller's 403 on the old token: keep the newer one
    assert auth.access_token() == "Atza|TWO"
    assert auth.token_requests == 2


def test_concurrent_callers_share_one_token_request() -> None:
    session = FakeSession(token_answer(), delay=0.05)
    auth = auth_with(session)
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(auth.access_token())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tokens == ["Atza|ACCESS-1"] * 8
    assert len(session.calls) == 1


def test_refused_credentials_raise_auth_error_without_secrets() -> None:
    refused = make_response(
        400, {"error": "invalid_grant", "error_description": "The request has an invalid grant"}
    )
    auth = auth_with(FakeSession(refused))
    with pytest.raises(AuthError) as info:
        auth.access_token()
    err = info.value
    assert (err.service, err.status, err.code) == ("lwa", 400, "invalid_grant")
    assert "invalid_grant" in str(err) and "invalid grant" in str(err)
    for secret in (SECRET, REFRESH):
        assert secret not in str(err) and secret not in repr(err) and secret not in repr(auth)


@pytest.mark.parametrize(
    "answer",
    [
        make_response(503, {"error": "server_error"}),
        make_response(429, {}),
        make_response(200, None, raw=b"<html>proxy error</html>"),
        make_response(200, {"token_type": "bearer"}),
        requests.ConnectTimeout("timed out"),
        requests.ConnectionError("refused"),
        requests.exceptions.ChunkedEncodingError("connection broken mid-body"),
    ],
)
def test_server_side_failures_are_transient(answer: Any) -> None:
    auth = auth_with(FakeSession(answer))
    with pytest.raises(TransientError) as info:
        auth.access_token()
    assert info.value.service == "lwa"
    assert SECRET not in str(info.value) and REFRESH not in str(info.value)


def test_repr_shows_no_secret_or_token() -> None:
    auth = auth_with(FakeSession(token_answer("Atza|VISIBLE?")))
    auth.access_token()
    text = repr(auth)
    assert "Atza|VISIBLE?" not in text and SECRET not in text and REFRESH not in text
    assert "cached" in text


def test_empty_credentials_are_rejected_up_front() -> None:
    with pytest.raises(ValueError, match="client_secret"):
        LwaAuth(TOKEN_URL, "id", "", REFRESH)


@pytest.mark.parametrize(
    ("error", "setting", "words"),
    [
        ("invalid_client", "LWA_CLIENT_SECRET", ("Seller Central", "rotat", "180 days")),
        ("invalid_grant", "SP_API_REFRESH_TOKEN", ("authorise the app again",)),
        ("unauthorized_client", "LWA_APP_ID", ("LWA_CLIENT_SECRET", "SP_API_REFRESH_TOKEN")),
    ],
)
def test_a_refusal_names_the_setting_to_fix_and_is_not_asked_again(error, setting, words) -> None:
    session = FakeSession(
        make_response(400, {"error": error, "error_description": "Client authentication failed"})
    )
    auth = auth_with(session)
    for _ in range(3):
        with pytest.raises(CredentialsRefusedError) as info:
            auth.access_token()
        assert info.value.setting == setting
        assert all(word in str(info.value) for word in words), str(info.value)
        assert SECRET not in str(info.value) and REFRESH not in str(info.value)
    assert len(session.calls) == 1  # one refusal is enough: no storm against LWA
