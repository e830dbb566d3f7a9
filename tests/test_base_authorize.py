"""The browser half of BASE's authorisation-code flow: URL, state, pasted answers, the loopback listener."""

from __future__ import annotations

import socket
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ecauto_lib.base.authorize import (
    LoopbackAddress,
    LoopbackReceiver,
    Page,
    RedirectAnswer,
    RedirectTimeout,
    authorize_url,
    loopback_address,
    new_state,
    parse_redirect,
    state_matches,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_authorize_url_asks_for_a_code_with_the_scopes_syncing_needs():
    url = authorize_url("https://api.thebase.in/", "cid", "http://127.0.0.1:8765/callback", "st")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "api.thebase.in", "/1/oauth/authorize")
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["cid"],
        "redirect_uri": ["http://127.0.0.1:8765/callback"],
        "scope": ["read_items write_items"],
        "state": ["st"],
    }


def test_state_is_random_and_only_matches_its_account_and_key():
    first, second = new_state("shop1", "secret"), new_state("shop1", "secret")
    assert first != second
    assert state_matches(first, "shop1", "secret")
    assert not state_matches(first, "shop2", "secret")
    assert not state_matches(first, "shop1", "other-secret")
    assert not state_matches("forged.0123", "shop1", "secret") and not state_matches("", "shop1", "secret")
    assert "secret" not in first


def test_parse_redirect_reads_an_address_or_a_query():
    assert parse_redirect("https://example.com/cb?code=abc&state=st") == RedirectAnswer("abc", "st")
    assert parse_redirect("?code=abc") == RedirectAnswer("abc")
    denied = parse_redirect("https://example.com/cb?error=access_denied&state=st")
    assert (denied.code, denied.error, denied.state) == (None, "access_denied", "st")
    assert "abc" not in repr(parse_redirect("https://example.com/cb?code=abc"))


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://127.0.0.1:8765/callback", LoopbackAddress("127.0.0.1", 8765, "/callback")),
        ("http://localhost:9000", LoopbackAddress("localhost", 9000, "/")),
        ("http://127.0.0.1/base/callback", None),  # no port: nothing to listen on
        ("https://127.0.0.1:8765/callback", None),  # TLS: not ours to serve
        ("https://example.com/base/callback", None),
        ("http://127.0.0.1:notaport/cb", None),
    ],
)
def test_loopback_address(uri, expected):
    assert loopback_address(uri) == expected


def test_receiver_captures_the_redirect_and_shows_the_handlers_page():
    address = LoopbackAddress("127.0.0.1", free_port(), "/callback")
    answers: list[RedirectAnswer] = []

    def handle(answer: RedirectAnswer):
        answers.append(answer)
        return Page(200, "connected", "you can close this tab"), "done"

    with LoopbackReceiver(address) as receiver:
        got: dict[str, requests.Response] = {}

        def browser() -> None:
            got["favicon"] = requests.get(f"{address.url.rsplit('/', 1)[0]}/favicon.ico", timeout=5)
            got["page"] = requests.get(address.url, params={"code": "abc", "state": "st"}, timeout=5)

        thread = threading.Thread(target=browser)
        thread.start()
        assert receiver.receive(10, handle) == "done"
        thread.join(5)
    assert got["favicon"].status_code == 404
    assert got["page"].status_code == 200 and "you can close this tab" in got["page"].text
    assert answers == [RedirectAnswer("abc", "st")]


def test_receiver_times_out_clearly():
    now = [0.0]

    def clock() -> float:
        now[0] += 0.3
        return now[0]

    address = LoopbackAddress("127.0.0.1", free_port(), "/callback")
    with LoopbackReceiver(address, clock=clock) as receiver, pytest.raises(RedirectTimeout) as info:
        receiver.receive(1.0, lambda answer: (Page(200, "", ""), None))
    assert str(info.value) == f"no redirect reached {address.url} within 1 s"
