"""BaseClient + BaseAuth against the project's BASE simulator (real HTTP on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ecauto_lib.base.auth import BaseAuth, InMemoryTokenStore
from ecauto_lib.base.client import (
    BadItemIdError,
    BaseApiError,
    BaseClient,
    BaseValidationError,
    BudgetExhaustedError,
    DayLimitError,
    HourLimitError,
    edit_form,
    error_from_answer,
    is_invalid_token,
)
from ecauto_lib.domain import BaseShop
from ecauto_lib.errors import AuthError, PermanentError, TransientError
from ecauto_sandbox import Sandbox, Scenario


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(Scenario.demo(), speed=100) as sandbox:
        yield sandbox


def client_of(
    sb: Sandbox, shop_index: int = 0, store: InMemoryTokenStore | None = None, **auth_kw
) -> BaseClient:
    shop = sb.shops[shop_index]
    auth = BaseAuth(
        shop.id,
        client_id=shop.client_id,
        client_secret=shop.client_secret,
        redirect_uri=shop.redirect_uri,
        initial_refresh_token=auth_kw.pop("initial_refresh_token", shop.refresh_token),
        store=store if store is not None else InMemoryTokenStore(),
        token_url=sb.base_token_url,
        **auth_kw,
    )
    return BaseClient(sb.url, auth, timeout=(2.0, 5.0))


def base_calls(sb: Sandbox) -> list:
    return [r for r in sb.requests if r.service == "base"]


def first_item_id(sb: Sandbox, shop_index: int = 0) -> int:
    return sb.items(sb.shops[shop_index].id)[0]["item_id"]


# -- pure ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        # the error code decides, whatever the HTTP status (BASE documents 400 for every error)
        (400, "hour_api_limit", HourLimitError),
        (429, "hour_api_limit", HourLimitError),
        (503, "hour_api_limit", HourLimitError),
        (400, "day_api_limit", DayLimitError),
        (429, "day_api_limit", DayLimitError),
        (500, "day_api_limit", DayLimitError),
        (500, "bad_item_id", BadItemIdError),
        (429, "validation_error", BaseValidationError),
        # no code, or BASE's own server-side failure codes: the status decides
        (503, None, TransientError),
        (429, None, TransientError),
        (400, "server_error", TransientError),
        (400, "db_error", TransientError),
        (400, "no_such_code", BaseApiError),
    ],
)
def test_the_error_code_is_read_before_the_http_status(status: int, code: str | None, expected: type) -> None:
    error = error_from_answer(status, code, "説明", context="base items/edit for account a")
    assert type(error) is expected
    assert (error.status, error.code) == (status, code)


def test_a_rejected_token_is_recognised_by_its_code_whatever_the_status() -> None:
    for status in (400, 401, 403):
        assert is_invalid_token(status, "invalid_request", "アクセストークンが無効です。")
    assert is_invalid_token(401, None, None)  # undocumented 401: handled like the documented case
    assert not is_invalid_token(400, "invalid_request", "不正なパラメーターです。")
    assert not is_invalid_token(429, "hour_api_limit", "1時間のAPIの利用上限を超えました。")


def test_edit_form_sends_only_the_given_fields() -> None:
    assert edit_form(12, price=1980) == {"item_id": "12", "price": "1980"}
    assert edit_form(12, visible=False) == {"item_id": "12", "visible": "0"}
    assert edit_form(12, visible=True, stock=3) == {"item_id": "12", "visible": "1", "stock": "3"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"price": -1},
        {"price": 1980.0},
        {"price": True},
        {"price": "1980"},
        {"visible": 1},
        {"title": ["x"]},
        {},
    ],
)
def test_edit_form_refuses_bad_values_before_sending(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        edit_form(12, **kwargs)


@pytest.mark.parametrize("item_id", [0, -5, "12", True, 1.5])
def test_edit_form_refuses_bad_item_ids(item_id: object) -> None:
    with pytest.raises(ValueError):
        edit_form(item_id, price=100)  # type: ignore[arg-type]


# -- against the simulator -------------------------------------------------------------------


def test_iter_items_pages_by_100_until_a_short_page() -> None:
    with Sandbox(Scenario.generate(250, n_shops=1, seed=3), speed=100) as sb:
        client = client_of(sb)
        ids = [item["item_id"] for item in client.iter_items()]
        assert sorted(ids) == sorted(item["item_id"] for item in sb.items(sb.shops[0].id))
        assert len(ids) == len(set(ids)) == 250
        pages = [(r.query["offset"], r.query["limit"]) for r in base_calls(sb) if r.path == "/1/items"]
    assert pages == [("0", "100"), ("100", "100"), ("200", "100")]
    assert client.calls == 3


def test_list_items_sends_bearer_and_parameters(sb: Sandbox) -> None:
    client = client_of(sb)
    items = client.list_items(limit=2, offset=1, order="modified", sort="desc")
    assert len(items) == 2
    (call,) = [r for r in base_calls(sb) if r.path == "/1/items"]
    assert call.query == {
        "limit": "2",
        "offset": "1",
        "order": "modified",
        "sort": "desc",
    }
    assert call.status == 200
    with pytest.raises(ValueError):
        client.list_items(limit=101)


def test_edit_item_changes_only_the_given_fields(sb: Sandbox) -> None:
    client = client_of(sb)
    shop_id, item_id = sb.shops[0].id, first_item_id(sb)
    before = sb.item(shop_id, item_id)
    assert before is not None
    new_price = before["price"] + 500
    returned = client.edit_item(item_id, price=new_price)
    assert returned["price"] == new_price and returned["visible"] == before["visible"]
    after = sb.item(shop_id, item_id)
    assert after is not None and after["price"] == new_price and after["title"] == before["title"]
    edit = [r for r in base_calls(sb) if r.path == "/1/items/edit"][-1]
    assert edit.body == {"item_id": str(item_id), "price": str(new_price)}
    client.edit_item(item_id, visible=False)
    assert sb.item(shop_id, item_id)["visible"] == 0  # type: ignore[index]
    assert [r for r in base_calls(sb) if r.path == "/1/items/edit"][-1].body == {
        "item_id": str(item_id),
        "visible": "0",
    }


def test_item_detail_and_deleted_item(sb: Sandbox) -> None:
    client = client_of(sb)
    shop_id, item_id = sb.shops[0].id, first_item_id(sb)
    detail = client.item_detail(item_id)
    assert detail is not None and detail["item_id"] == item_id
    sb.delete_item(shop_id, item_id)
    assert client.item_detail(item_id) is None
    with pytest.raises(BadItemIdError) as info:
        client.edit_item(item_id, price=1000)
    assert isinstance(info.value, PermanentError) and info.value.code == "bad_item_id"


def test_validation_error_is_typed(sb: Sandbox) -> None:
    with pytest.raises(BaseValidationError) as info:
        client_of(sb).edit_item(first_item_id(sb), price=10)  # below the simulator's ¥50 minimum
    assert info.value.code == "validation_error" and info.value.status == 400


def test_expired_access_token_refreshes_once_and_retries(sb: Sandbox) -> None:
    store = InMemoryTokenStore()
    client = client_of(sb, store=store)
    client.list_items(limit=1)
    assert client.auth.refresh_count == 1
    sb.expire_tokens()
    assert len(client.list_items(limit=1)) == 1
    assert client.auth.refresh_count == 2
    items_calls = [r for r in base_calls(sb) if r.path == "/1/items"]
    assert [(r.status, r.error_code) for r in items_calls] == [
        (200, None),
        (400, "invalid_request"),
        (200, None),
    ]
    assert client.calls == 3


def test_rotation_across_two_refreshes_keeps_the_live_refresh_token(sb: Sandbox) -> None:
    shop = sb.shops[0]
    store = InMemoryTokenStore()
    client = client_of(sb, store=store)
    seen = []
    for _ in range(2):
        client.list_items(limit=1)
        stored = store.load(shop.id)
        assert stored is not None
        assert stored.refresh_token == sb.current_refresh_token(shop.id)
        seen.append(stored.refresh_token)
        sb.expire_tokens()
    client.list_items(limit=1)
    assert client.auth.refresh_count == 3
    assert len({shop.refresh_token, *seen}) == 3  # every refresh handed out a new refresh token
    # The refresh token spent first is dead now: a fresh auth that only knows it must re-authorise.
    stale = client_of(sb, initial_refresh_token=shop.refresh_token)
    with pytest.raises(AuthError) as info:
        stale.list_items(limit=1)
    assert shop.id in str(info.value) and "re-authorise" in str(info.value)
    assert shop.refresh_token not in str(info.value) and shop.client_secret not in str(info.value)


def test_hour_api_limit_is_an_hour_limit_error(sb: Sandbox) -> None:
    client = client_of(sb)
    client.list_items(limit=1)
    sb.exhaust_base_hour(sb.shops[0].id)
    with pytest.raises(HourLimitError) as info:
        client.edit_item(first_item_id(sb), price=1200)
    assert isinstance(info.value, BudgetExhaustedError) and isinstance(info.value, PermanentError)
    assert (info.value.status, info.value.code) == (400, "hour_api_limit")
    # The other shop's budget is its own.
    assert len(client_of(sb, shop_index=1).list_items(limit=1)) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_budget_refusals_are_typed_by_their_code_even_under_another_status(sb: Sandbox, status: int) -> None:
    """A BASE (or a proxy in front of it) answering hour_api_limit/day_api_limit with a 429 or a 5xx:
    still a budget refusal to wait out, never a transient error to retry at once."""
    client = client_of(sb)
    client.list_items(limit=1)
    sb.set_faults(base_limit_status=status)
    sb.exhaust_base_hour(sb.shops[0].id)
    with pytest.raises(HourLimitError) as hour:
        client.edit_item(first_item_id(sb), price=1200)
    assert (hour.value.status, hour.value.code) == (status, "hour_api_limit")
    sb.exhaust_base_day(sb.shops[0].id)
    with pytest.raises(DayLimitError) as day:
        client.list_items(limit=1)
    assert (day.value.status, day.value.code) == (status, "day_api_limit")
    assert [r.status for r in base_calls(sb)][-2:] == [status, status]
    assert [r.fault for r in base_calls(sb)][-2:] == ["limit_status", "limit_status"]


def test_base_503_html_page_is_transient(sb: Sandbox) -> None:
    client = client_of(sb)
    sb.set_faults(base_5xx_rate=1.0)
    with pytest.raises(TransientError) as info:
        client.list_items(limit=1)
    assert info.value.status == 503 and info.value.service == "base"


def test_truncated_json_is_transient(sb: Sandbox) -> None:
    client = client_of(sb)
    client.list_items(limit=1)  # token first: the fault also hits token answers
    sb.set_faults(malformed_json_rate=1.0)
    with pytest.raises(TransientError) as info:
        client.list_items(limit=1)
    assert info.value.code == "MalformedBody"


def test_token_server_error_is_transient_and_stores_nothing(sb: Sandbox) -> None:
    store = InMemoryTokenStore()
    client = client_of(sb, store=store)
    sb.set_faults(auth_5xx_rate=1.0)
    with pytest.raises(TransientError):
        client.list_items(limit=1)
    assert store.load(sb.shops[0].id) is None and client.calls == 0


def test_two_processes_refreshing_one_shop_at_once_both_end_up_with_the_rotated_pair(db_url):
    """Two BaseAuth instances (two processes) over one DB store race to refresh: nobody is locked out."""
    import threading

    from ecauto_lib import db
    from ecauto_lib.base.auth import BaseAuth
    from ecauto_sandbox import Sandbox, Scenario

    with Sandbox(Scenario.demo(), speed=100) as sb:
        engine = db.make_engine(db_url)  # SQLite (file lock) and PostgreSQL (advisory lock)
        db.upgrade(engine)
        shop = sb.shops[0]

        def auth() -> BaseAuth:
            return BaseAuth(
                shop.id,
                client_id=shop.client_id,
                client_secret=shop.client_secret,
                redirect_uri=shop.redirect_uri,
                initial_refresh_token=shop.refresh_token,
                store=db.DbTokenStore(db.make_engine(db_url)),
                token_url=sb.base_token_url,
            )

        first, second = auth(), auth()
        first.access_token()  # a stored pair, then both see it expire
        sb.expire_tokens()
        stored = db.DbTokenStore(engine).load(shop.id)
        results, errors = [], []
        barrier = threading.Barrier(2)

        def refresh(a: BaseAuth) -> None:
            barrier.wait()
            try:
                results.append(a.refresh(rejected_access_token=stored.access_token))
            except Exception as exc:  # pragma: no cover - the failure this test guards against
                errors.append(exc)

        threads = [threading.Thread(target=refresh, args=(a,)) for a in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors, errors
        final = db.DbTokenStore(engine).load(shop.id)
        assert final.refresh_token == sb.current_refresh_token(shop.id)
        # both finished with a working token. (At speed 100 a pair lives 36 s, inside the 300 s
        # refresh margin of a process that has not refreshed yet, so the second may refresh again.)
        assert len(results) == 2 and final.access_token in results


def test_shop_reads_users_me_for_the_shop_behind_the_token(sb: Sandbox) -> None:
    shop = client_of(sb, 1).shop()
    assert shop == BaseShop("base_account_2", "バイヤー氏屋【精神科医】", "https://base-account-2.thebase.in")
    assert [r.operation for r in base_calls(sb)] == ["baseToken", "usersMe"]
