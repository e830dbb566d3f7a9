"""BaseAuth: store-first rotation, lock-serialised refresh, refresh margin, errors without secrets."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from ecauto_lib.base.auth import (
    BaseAuth,
    ClientRefusedError,
    CodeRefusedError,
    InMemoryTokenStore,
    NeedsAuthorisationError,
    exchange_code,
    refresh_margin,
)
from ecauto_lib.base.client import BaseClient, HourLimitError
from ecauto_lib.domain import BaseShop, BaseTokens
from ecauto_lib.errors import AuthError, TransientError

TOKEN_URL = "https://api.thebase.in/1/oauth/token"
API_URL = "https://api.thebase.in"
SECRET = "base-client-SECRET-value"
INITIAL_REFRESH = "initial-REFRESH-token"
NOW = 1_800_000_000.0


def make_response(status: int, body: Any, url: str = TOKEN_URL) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.url = url
    response.request = requests.Request("POST", url).prepare()
    return response


def token_answer(n: int, expires_in: int = 3600) -> requests.Response:
    return make_response(
        200,
        {
            "access_token": f"access-{n}",
            "token_type": "bearer",
            "expires_in": expires_in,
            "refresh_token": f"refresh-{n}",
        },
    )


class FakeSession:
    """Answers token calls from a script and API calls with an empty item list; records everything."""

    def __init__(self, *token_answers: requests.Response, delay: float = 0.0) -> None:
        self.token_answers = list(token_answers)
        self.calls: list[dict[str, Any]] = []
        self.delay = delay
        self._lock = threading.Lock()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        with self._lock:
            self.calls.append({"method": method, "url": url, **kwargs})
            if url != TOKEN_URL:
                return make_response(200, {"items": []}, url)
            answer = self.token_answers.pop(0)
        if self.delay:
            time.sleep(self.delay)
        return answer

    def token_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["url"] == TOKEN_URL]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def pair(n: int, expires_in_from_now: float) -> BaseTokens:
    return BaseTokens(f"access-{n}", f"refresh-{n}", datetime.fromtimestamp(NOW + expires_in_from_now, UTC))


def make_auth(session: FakeSession, store: Any, clock: Clock | None = None) -> BaseAuth:
    return BaseAuth(
        "shop-a",
        client_id="base-client-id",
        client_secret=SECRET,
        redirect_uri="https://example.com/callback",
        initial_refresh_token=INITIAL_REFRESH,
        store=store,
        token_url=TOKEN_URL,
        session=session,  # type: ignore[arg-type]
        clock=clock or Clock(),
    )


def test_first_use_refreshes_with_the_initial_token_and_stores_the_pair() -> None:
    session, store = FakeSession(token_answer(1)), InMemoryTokenStore()
    auth = make_auth(session, store)
    assert auth.access_token() == "access-1"
    (call,) = session.token_calls()
    assert call["method"] == "POST"
    assert call["data"] == {
        "grant_type": "refresh_token",
        "client_id": "base-client-id",
        "client_secret": SECRET,
        "refresh_token": INITIAL_REFRESH,
        "redirect_uri": "https://example.com/callback",
    }
    saved = store.load("shop-a")
    assert saved == BaseTokens(
        "access-1",
        "refresh-1",
        datetime.fromtimestamp(NOW + 3600, UTC),
        refresh_issued_at=datetime.fromtimestamp(NOW, UTC),  # a new refresh token, issued now
    )
    assert auth.refresh_count == 1


def test_fresh_stored_pair_is_used_without_a_call() -> None:
    store = InMemoryTokenStore({"shop-a": pair(7, 301)})
    session = FakeSession()
    assert make_auth(session, store).access_token() == "access-7"
    assert session.calls == []


def test_pair_within_the_margin_is_refreshed_with_the_stored_refresh_token() -> None:
    assert refresh_margin(3600) == 300
    assert refresh_margin(36) == 3
    store = InMemoryTokenStore({"shop-a": pair(7, 299)})
    session = FakeSession(token_answer(8))
    auth = make_auth(session, store)
    assert auth.access_token() == "access-8"
    assert session.token_calls()[0]["data"]["refresh_token"] == "refresh-7"


def test_rotation_each_refresh_spends_the_latest_refresh_token() -> None:
    clock = Clock()
    store = InMemoryTokenStore()
    session = FakeSession(token_answer(1), token_answer(2), token_answer(3))
    auth = make_auth(session, store, clock)
    assert auth.access_token() == "access-1"
    clock.now += 3600
    assert auth.access_token() == "access-2"
    clock.now += 3600
    assert auth.access_token() == "access-3"
    sent = [c["data"]["refresh_token"] for c in session.token_calls()]
    assert sent == [INITIAL_REFRESH, "refresh-1", "refresh-2"]
    assert store.load("shop-a").refresh_token == "refresh-3"  # type: ignore[union-attr]


class FailingOnceStore(InMemoryTokenStore):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    def save(self, account_id: str, tokens: BaseTokens) -> None:
        if self.failures == 0:
            self.failures += 1
            raise OSError("disk full")
        super().save(account_id, tokens)


def test_pair_that_cannot_be_saved_is_never_used() -> None:
    session = FakeSession(token_answer(1), token_answer(2))
    auth = make_auth(session, FailingOnceStore())
    client = BaseClient(API_URL, auth, session=session)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="disk full") as info:
        client.list_items()
    assert any("re-authorise" in note for note in info.value.__notes__)
    assert [c["url"] for c in session.calls] == [TOKEN_URL]  # the items call was never sent
    assert client.calls == 0
    # Next time the unsaved access-1 is not reused: a new pair is obtained, saved, then used.
    assert client.list_items() == []
    api_calls = [c for c in session.calls if c["url"] != TOKEN_URL]
    assert [c["headers"]["Authorization"] for c in api_calls] == ["Bearer access-2"]


def test_concurrent_refreshes_of_one_shop_make_one_token_call() -> None:
    store = InMemoryTokenStore({"shop-a": pair(1, -10)})  # expired
    session = FakeSession(token_answer(2), delay=0.05)
    auth = make_auth(session, store)
    results: list[str] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        results.append(auth.refresh(rejected_access_token="access-1"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["access-2"] * 8
    assert len(session.token_calls()) == 1
    assert store.saves == 1


def test_refresh_reuses_a_pair_another_process_stored() -> None:
    store = InMemoryTokenStore({"shop-a": pair(5, 3000)})
    session = FakeSession()
    auth = make_auth(session, store)
    assert auth.refresh(rejected_access_token="access-4") == "access-5"
    assert session.calls == []


def test_refresh_replaces_a_rejected_token_even_if_it_looks_fresh() -> None:
    store = InMemoryTokenStore({"shop-a": pair(5, 3000)})
    session = FakeSession(token_answer(6))
    auth = make_auth(session, store)
    assert auth.refresh(rejected_access_token="access-5") == "access-6"
    assert session.token_calls()[0]["data"]["refresh_token"] == "refresh-5"


class RotatedElsewhere(FakeSession):
    """BASE refuses our refresh token because another refresher, outside the store's lock, spent
    it first and saved its new pair while our call was in flight."""

    def __init__(self, store: InMemoryTokenStore) -> None:
        super().__init__(make_response(400, {"error": "invalid_request", "error_description": "不正"}))
        self.store = store

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if url == TOKEN_URL:
            self.store.save("shop-a", pair(7, 3000))
        return super().request(method, url, **kwargs)


def test_refused_refresh_adopts_the_pair_another_refresher_saved_meanwhile() -> None:
    store = InMemoryTokenStore({"shop-a": pair(3, -1)})
    session = RotatedElsewhere(store)
    auth = make_auth(session, store)
    assert auth.access_token() == "access-7"
    assert [c["data"]["refresh_token"] for c in session.token_calls()] == ["refresh-3"]
    assert store.load("shop-a") == pair(7, 3000)
    assert auth.access_token() == "access-7"  # kept, no second call
    assert len(session.token_calls()) == 1


def test_refused_refresh_token_is_an_auth_error_without_secrets() -> None:
    refused = make_response(
        400, {"error": "invalid_request", "error_description": "不正なリフレッシュトークンです。"}
    )
    store = InMemoryTokenStore({"shop-a": pair(3, -1)})
    auth = make_auth(FakeSession(refused), store)
    with pytest.raises(AuthError) as info:
        auth.access_token()
    message = str(info.value)
    assert "shop-a" in message and "re-authorise" in message and "不正なリフレッシュトークンです。" in message
    assert (info.value.service, info.value.status, info.value.code) == ("base", 400, "invalid_request")
    for secret in (SECRET, INITIAL_REFRESH, "refresh-3", "access-3"):
        assert secret not in message and secret not in repr(info.value) and secret not in repr(auth)
    assert store.load("shop-a") == pair(3, -1)  # nothing overwritten


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (make_response(502, {"error": "bad gateway"}), TransientError),
        (make_response(400, {"error": "server_error", "error_description": "DB error"}), TransientError),
        (make_response(400, {"error": "hour_api_limit", "error_description": "上限"}), HourLimitError),
        (make_response(200, {"token_type": "bearer"}), TransientError),
    ],
)
def test_other_refresh_failures_keep_their_type(answer: requests.Response, expected: type) -> None:
    with pytest.raises(expected):
        make_auth(FakeSession(answer), InMemoryTokenStore()).access_token()


def test_expires_at_is_aware_utc_and_repr_hides_tokens() -> None:
    store = InMemoryTokenStore()
    auth = make_auth(FakeSession(token_answer(1)), store)
    auth.access_token()
    saved = store.load("shop-a")
    assert saved is not None and saved.expires_at.tzinfo is not None
    assert saved.expires_at - datetime.fromtimestamp(NOW, UTC) == timedelta(seconds=3600)
    assert "access-1" not in repr(saved) and "refresh-1" not in repr(saved)


# ------------------------------------------------------------ refusals, connect, the code grant
REFUSED = {"error": "invalid_request", "error_description": "リフレッシュトークンの有効期限が切れています。"}


def test_refused_refresh_is_recorded_and_never_retried_until_the_shop_is_reconnected() -> None:
    store = InMemoryTokenStore({"shop-a": pair(3, -1)})
    session = FakeSession(make_response(400, REFUSED))
    with pytest.raises(NeedsAuthorisationError) as info:
        make_auth(session, store).access_token()
    assert "python flows/connect_shop.py --account shop-a" in str(info.value)
    assert store.refusal("shop-a") == "invalid_request: リフレッシュトークンの有効期限が切れています。"
    auth = make_auth(session, store)  # a later task or run: BASE is not asked again
    for _ in range(3):
        with pytest.raises(NeedsAuthorisationError):
            auth.access_token()
    assert len(session.token_calls()) == 1
    store.save("shop-a", pair(8, 3000), authorised=BaseShop("a", "A"))  # connect_shop stored a new pair
    assert store.refusal("shop-a") is None
    assert make_auth(session, store).access_token() == "access-8"


def test_a_refused_client_is_not_held_against_the_refresh_token() -> None:
    unknown_client = make_response(
        400, {"error": "unauthorized_client", "error_description": "クライアントが見つかりませんでした。"}
    )
    store = InMemoryTokenStore({"shop-a": pair(3, -1)})
    session = FakeSession(unknown_client, token_answer(4))
    auth = make_auth(session, store)
    with pytest.raises(ClientRefusedError, match="client_id and client_secret of account shop-a"):
        auth.access_token()
    with pytest.raises(ClientRefusedError):
        auth.access_token()  # this instance does not ask again
    assert len(session.token_calls()) == 1 and store.refusal("shop-a") is None
    assert make_auth(session, store).access_token() == "access-4"  # the accounts file was fixed


def test_a_shop_without_any_refresh_token_is_not_connected_and_base_is_not_called() -> None:
    session = FakeSession()
    auth = BaseAuth(
        "shop-b",
        client_id="cid",
        client_secret=SECRET,
        redirect_uri="https://example.com/callback",
        initial_refresh_token="",
        store=InMemoryTokenStore(),
        token_url=TOKEN_URL,
        session=session,  # type: ignore[arg-type]
    )
    with pytest.raises(NeedsAuthorisationError, match="not connected.*connect_shop.py --account shop-b"):
        auth.access_token()
    assert session.calls == []


def test_refresh_issued_at_moves_only_when_base_hands_back_a_new_refresh_token() -> None:
    issued = datetime.fromtimestamp(NOW - 5 * 86400, UTC)
    stored = BaseTokens("access-3", "refresh-3", datetime.fromtimestamp(NOW - 1, UTC), issued)
    same = make_response(
        200,
        {
            "access_token": "access-4",
            "token_type": "bearer",
            "expires_in": 3600,
            "refresh_token": "refresh-3",
        },
    )
    clock = Clock()
    store = InMemoryTokenStore({"shop-a": stored})
    auth = make_auth(FakeSession(same, token_answer(5)), store, clock)
    auth.access_token()
    assert store.load("shop-a").refresh_issued_at == issued  # the same refresh token: its clock runs on
    clock.now += 3600
    auth.access_token()
    assert store.load("shop-a").refresh_issued_at == datetime.fromtimestamp(clock.now, UTC)


def test_exchange_code_sends_the_documented_form_and_returns_a_fresh_pair() -> None:
    session = FakeSession(token_answer(1))
    tokens = exchange_code(
        code="CODE-abc",
        client_id="cid",
        client_secret=SECRET,
        redirect_uri="http://127.0.0.1:8765/callback",
        token_url=TOKEN_URL,
        session=session,  # type: ignore[arg-type]
        clock=Clock(),
    )
    (call,) = session.token_calls()
    assert call["method"] == "POST" and call["data"] == {
        "grant_type": "authorization_code",
        "client_id": "cid",
        "client_secret": SECRET,
        "code": "CODE-abc",
        "redirect_uri": "http://127.0.0.1:8765/callback",
    }
    assert (tokens.access_token, tokens.refresh_token) == ("access-1", "refresh-1")
    assert tokens.refresh_issued_at == datetime.fromtimestamp(NOW, UTC)
    assert tokens.expires_at == datetime.fromtimestamp(NOW + 3600, UTC)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": "invalid_request", "error_description": "不正な認可コードです。"}, CodeRefusedError),
        (
            {"error": "invalid_request", "error_description": "認可コードの有効期限が切れています。"},
            CodeRefusedError,
        ),
        ({"error": "invalid_grant", "error_description": "code expired"}, CodeRefusedError),
        (
            {"error": "unauthorized_client", "error_description": "停止中のクライアントです。"},
            ClientRefusedError,
        ),
        ({"error": "invalid_request", "error_description": "不正なパラメーターです。"}, AuthError),
    ],
)
def test_exchange_code_refusals_are_typed_and_name_no_secret(body: dict, expected: type) -> None:
    with pytest.raises(AuthError) as info:
        exchange_code(
            code="CODE-abc",
            client_id="cid",
            client_secret=SECRET,
            redirect_uri="https://example.com/cb",
            token_url=TOKEN_URL,
            session=FakeSession(make_response(400, body)),  # type: ignore[arg-type]
        )
    assert type(info.value) is expected
    assert body["error_description"] in str(info.value)
    assert SECRET not in str(info.value) and "CODE-abc" not in str(info.value)
