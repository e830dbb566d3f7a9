"""SpApiClient against a minimal SP-API + LWA stub served over real HTTP on 127.0.0.1.

The stub enforces what matters to the client: LWA-issued tokens (403 otherwise), a server-side
token bucket per operation (429 when empty, ``x-amzn-RateLimit-Limit`` on 200s) and scripted
faults. Pure helpers (request body, ASIN checks, keying) are tested without a server.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ecauto_lib.amazon.client import (
    GET_ITEM_OFFERS_BATCH,
    SEARCH_CATALOG_ITEMS,
    QuotaExceededError,
    SpApiClient,
    checked_asins,
    parse_rate_limit,
    responses_by_asin,
)
from ecauto_lib.amazon.lwa import LwaAuth
from ecauto_lib.errors import (
    CredentialsRefusedError,
    InvalidAsinError,
    PermanentError,
    TransientError,
)

BATCH_PATH = GET_ITEM_OFFERS_BATCH.path
CATALOG_PATH = SEARCH_CATALOG_ITEMS.path
ASINS = ["B0AAAAAAA1", "B0AAAAAAA2", "B0AAAAAAA3"]


class ServerBucket:
    """The server's side of the quota: rate/s, burst, 429 when empty."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = float(burst), time.monotonic()

    def try_take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class SpApiStub:
    """SP-API and LWA in one server. ``script`` holds forced answers (status, body, headers)."""

    def __init__(self, *, rate: float = 5.0, burst: int = 1) -> None:
        self.lock = threading.Lock()
        self.valid_tokens: set[str] = set()
        self.token_calls: list[dict[str, list[str]]] = []
        self.requests: list[dict[str, Any]] = []
        self.accepted_at: list[float] = []
        self.script: deque[tuple[int, Any, dict[str, str]]] = deque()
        self.catalog_pages: list[dict] = []
        self.rate = rate
        self.buckets = {BATCH_PATH: ServerBucket(rate, burst), CATALOG_PATH: ServerBucket(rate, burst)}
        self.url = ""

    def handle(
        self, method: str, path: str, query: dict, headers: dict, body: bytes
    ) -> tuple[int, Any, dict]:
        with self.lock:
            if path == "/auth/o2/token":
                form = parse_qs(body.decode())
                self.token_calls.append(form)
                token = f"Atza|token-{len(self.token_calls)}"
                self.valid_tokens.add(token)
                return 200, {"access_token": token, "token_type": "bearer", "expires_in": 3600}, {}
            record = {"method": method, "path": path, "query": query, "headers": headers}
            record["json"] = json.loads(body) if body else None
            self.requests.append(record)
            ids = {"x-amzn-RequestId": f"req-{len(self.requests)}"}
            if headers.get("x-amz-access-token") not in self.valid_tokens:
                error = {"code": "Unauthorized", "message": "Access to requested resource is denied."}
                return 403, {"errors": [error]}, ids
            if self.script:
                status, answer, extra = self.script.popleft()
                return status, answer, {**ids, **extra}
            if not self.buckets[path].try_take():
                error = {
                    "code": "QuotaExceeded",
                    "message": "You exceeded your quota for the requested resource.",
                }
                return 429, {"errors": [error]}, ids
            self.accepted_at.append(time.monotonic())
            ok = {**ids, "x-amzn-RateLimit-Limit": f"{self.rate:.1f}"}
            if path == BATCH_PATH:
                return 200, self.batch_answer(record["json"]), ok
            return 200, self.catalog_pages.pop(0), ok

    @staticmethod
    def batch_answer(body: dict) -> dict:
        """One priced item per request, in reverse order (keying must use the request echo)."""
        responses = []
        for n, request in enumerate(body["requests"]):
            asin = request["uri"].split("/")[-2]
            payload = {
                "ASIN": asin,
                "status": "Success",
                "Summary": {"TotalOfferCount": 1},
                "Offers": [
                    {"SubCondition": "new", "ListingPrice": {"CurrencyCode": "JPY", "Amount": 1000 + n}}
                ],
            }
            responses.append(
                {
                    "status": {"statusCode": 200, "reasonPhrase": "OK"},
                    "body": {"payload": payload},
                    "request": {
                        "MarketplaceId": request["MarketplaceId"],
                        "Asin": asin,
                        "ItemCondition": "New",
                    },
                }
            )
        return {"responses": responses[::-1]}


def serve(stub: SpApiStub) -> Iterator[SpApiStub]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as SP-API: no new connection and thread per call

        def _answer(self) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer, extra = stub.handle(
                self.command, parts.path, parse_qs(parts.query), headers, body
            )
            if isinstance(answer, float):  # a scripted delay, then nothing useful
                time.sleep(answer)
                answer = {}
            raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **extra}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            try:
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (the timeout test)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stub() -> Iterator[SpApiStub]:
    yield from serve(SpApiStub(rate=50.0, burst=2))


def make_client(stub: SpApiStub, *, default_rates: bool = False, **kwargs: Any) -> SpApiClient:
    """A client of the stub; unless ``default_rates``, its pacers start at the stub's rate, not 0.1/s."""
    auth = LwaAuth(stub.url + "/auth/o2/token", "client-id", "client-SECRET", "Atzr|refresh-SECRET")
    client = SpApiClient(stub.url, auth, timeout=(2.0, 2.0), **kwargs)
    if not default_rates:
        for op in (GET_ITEM_OFFERS_BATCH, SEARCH_CATALOG_ITEMS):
            client.pacer(op.name).set_rate(stub.rate)
    return client


# -- pure helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asins", "error"),
    [
        ([], ValueError),
        ([f"B0AAAAAA{n:02d}" for n in range(21)], ValueError),
        (["B0AAAAAAA1"] * 2, ValueError),
    ],
)
def test_checked_asins_rejects_counts_and_repeats(asins: list[str], error: type) -> None:
    with pytest.raises(error):
        checked_asins(asins, 20)


@pytest.mark.parametrize("bad", ["b0aaaaaaa1", " B0AAAAAAA1", "B0AAAA", 12345])
def test_checked_asins_rejects_malformed(bad: Any) -> None:
    with pytest.raises(InvalidAsinError):
        checked_asins(["B0AAAAAAA2", bad], 20)


def test_responses_keyed_by_echo_else_position() -> None:
    answers = [
        {"request": {"Asin": "B0AAAAAAA2"}, "n": 0},
        {"n": 1},  # no echo: position 1 → B0AAAAAAA2 is taken, so it stays keyed by position
        {"request": {"Asin": "B0ZZZZZZZZ"}, "n": 2},  # not asked for: position 2
    ]
    keyed = responses_by_asin(["B0AAAAAAA1", "B0AAAAAAA2", "B0AAAAAAA3"], answers)
    assert {asin: r["n"] for asin, r in keyed.items()} == {"B0AAAAAAA2": 0, "B0AAAAAAA3": 2}
    by_position = responses_by_asin(["B0AAAAAAA1", "B0AAAAAAA2"], [{"n": 0}, {"n": 1}])
    assert {asin: r["n"] for asin, r in by_position.items()} == {"B0AAAAAAA1": 0, "B0AAAAAAA2": 1}


@pytest.mark.parametrize(
    ("header", "rate"), [("0.1", 0.1), ("5.0", 5.0), (None, None), ("", None), ("x", None), ("0", None)]
)
def test_parse_rate_limit(header: str | None, rate: float | None) -> None:
    assert parse_rate_limit(header) == rate


# -- against the stub ------------------------------------------------------------------------


def test_batch_sends_the_exact_body_and_headers(stub: SpApiStub) -> None:
    client = make_client(stub)
    result = client.item_offers_batch(ASINS)
    (sent,) = stub.requests
    assert (sent["method"], sent["path"]) == ("POST", BATCH_PATH)
    assert sent["json"] == {
        "requests": [
            {
                "uri": f"/products/pricing/v0/items/{asin}/offers",
                "method": "GET",
                "MarketplaceId": "A1VC38T7YXB528",
                "ItemCondition": "New",
                "CustomerType": "Consumer",
            }
            for asin in ASINS
        ]
    }
    headers = sent["headers"]
    assert headers["x-amz-access-token"] == "Atza|token-1"
    assert headers["user-agent"] == "ecauto/0.1 (Language=Python/3.11)"
    assert headers["content-type"] == "application/json"
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["x-amz-date"])
    # Answers came back reversed: each is keyed by its request echo.
    assert list(result) == ASINS[::-1]
    assert {a: r["body"]["payload"]["ASIN"] for a, r in result.items()} == {a: a for a in ASINS}
    assert stub.token_calls[0]["grant_type"] == ["refresh_token"]


def test_bad_input_is_refused_before_any_call(stub: SpApiStub) -> None:
    client = make_client(stub)
    with pytest.raises(ValueError):
        client.item_offers_batch(["B0AAAAAAA1", "B0AAAAAAA1"])
    with pytest.raises(ValueError):
        client.search_catalog_items([f"B0AAAAAA{n:02d}" for n in range(21)])
    assert stub.requests == [] and stub.token_calls == []


def test_token_is_reused_and_rate_header_adopted(stub: SpApiStub) -> None:
    client = make_client(stub, default_rates=True)
    assert client.pacer("getItemOffersBatch").rate == 0.1
    client.item_offers_batch(ASINS[:1])
    assert client.pacer("getItemOffersBatch").rate == 50.0
    client.item_offers_batch(ASINS[1:])
    assert client.auth.token_requests == 1
    assert client.stats["getItemOffersBatch"]["calls"] == 2
    assert client.stats["getItemOffersBatch"]["throttled"] == 0
    assert client.stats["getItemOffersBatch"]["waited_seconds"] > 0  # the second call waited for its token


def test_403_reauthorises_once_then_succeeds(stub: SpApiStub) -> None:
    client = make_client(stub)
    client.item_offers_batch(ASINS[:1])
    stub.valid_tokens.clear()  # the server revokes the token the client holds
    result = client.item_offers_batch(ASINS[1:2])
    assert list(result) == ASINS[1:2]
    assert client.auth.token_requests == 2
    assert [r["headers"]["x-amz-access-token"] for r in stub.requests] == [
        "Atza|token-1",
        "Atza|token-1",
        "Atza|token-2",
    ]


def test_403_after_reauthorising_is_an_auth_error(stub: SpApiStub) -> None:
    client = make_client(stub)
    error = {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]}
    stub.script.extend([(403, error, {}), (403, error, {})])
    with pytest.raises(CredentialsRefusedError) as info:
        client.item_offers_batch(ASINS[:1])
    assert (info.value.status, info.value.code, info.value.request_id) == (403, "Unauthorized", "req-2")
    assert len(stub.requests) == 2 and client.auth.token_requests == 2
    assert "SECRET" not in str(info.value)
    # the setting to fix is named, and nothing more is sent: every later call would be refused too
    assert info.value.setting == "SP_API_REFRESH_TOKEN" and "role" in str(info.value)
    for call in (
        lambda: client.item_offers_batch(ASINS[1:2]),
        lambda: client.search_catalog_items(ASINS[:1]),
    ):
        with pytest.raises(CredentialsRefusedError):
            call()
    assert len(stub.requests) == 2


def test_429_raises_quota_exceeded_and_drains_the_pacer() -> None:
    stub_gen = serve(SpApiStub(rate=50.0, burst=2))
    stub = next(stub_gen)
    try:
        now = [0.0]
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            now[0] += seconds

        client = make_client(stub, default_rates=True, clock=lambda: now[0], sleep=sleep)
        quota = {
            "errors": [
                {"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}
            ]
        }
        stub.script.append((429, quota, {}))
        with pytest.raises(QuotaExceededError) as info:
            client.search_catalog_items(ASINS)
        err = info.value
        assert isinstance(err, TransientError)
        assert (err.service, err.status, err.code, err.request_id) == (
            "sp-api",
            429,
            "QuotaExceeded",
            "req-1",
        )
        assert client.stats["searchCatalogItems"]["throttled"] == 1
        # Burst 2, one token spent: without the drain the next call would not wait at all.
        assert client.pacer("searchCatalogItems").acquire() == pytest.approx(1 / (2.0 * 0.98))
    finally:
        next(stub_gen, None)


# The quota stub for the pacing test runs in its own process and times each request by the
# kernel's receive timestamp (SO_TIMESTAMPNS): on a loaded test machine a Python server can
# read a request tens of milliseconds after it arrived, which would count the stub's own
# scheduling delay against the client. The kernel stamp is when the bytes really arrived.
QUOTA_SERVER = r"""
import json, re, socket, struct, sys, threading, time
SO_TIMESTAMPNS = 35  # Linux
rate, burst = float(sys.argv[1]), int(sys.argv[2])
lock = threading.Lock()
state = {"tokens": float(burst), "updated": None, "accepted": [], "throttled": 0, "stamped": 0, "calls": []}

def take(at, asin):
    with lock:
        if state["updated"] is not None:
            state["tokens"] = min(burst, state["tokens"] + (at - state["updated"]) * rate)
        state["updated"] = at
        ok = state["tokens"] >= 1.0
        state["calls"].append([asin, at, ok])
        if ok:
            state["tokens"] -= 1.0
            state["accepted"].append(at)
            return True
        state["throttled"] += 1
        return False

def answer(conn, status, body, headers=()):
    raw = json.dumps(body).encode()
    head = [f"HTTP/1.1 {status} X", "Content-Type: application/json", f"Content-Length: {len(raw)}", *headers]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + raw)

def serve(conn):
    buffer, arrived = b"", None
    while True:
        data, ancillary, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(16))
        if not data:
            return
        stamp = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanos = struct.unpack("qq", payload[:16])
                stamp = seconds + nanos / 1e9
        if not buffer:
            arrived = stamp
        buffer += data
        while b"\r\n\r\n" in buffer:
            head, rest = buffer.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            fields = dict(line.split(": ", 1) for line in lines[1:])
            length = int(fields.get("Content-Length", 0))
            if len(rest) < length:
                break
            buffer = rest[length:]
            method, path = lines[0].split(" ")[:2]
            if path == "/auth/o2/token":
                answer(conn, 200, {"access_token": "Atza|t", "token_type": "bearer", "expires_in": 3600})
            elif method == "GET":
                with lock:
                    answer(conn, 200, state)
            else:
                if arrived is not None:
                    state["stamped"] += 1
                found = re.search(rb"/items/([A-Z0-9]{10})/offers", rest[:length])
                asin = found.group(1).decode() if found else ""
                if take(arrived if arrived is not None else time.time(), asin):
                    answer(conn, 200, {"responses": []}, [f"x-amzn-RateLimit-Limit: {rate}"])
                else:
                    answer(conn, 429, {"errors": [{"code": "QuotaExceeded", "message": "quota"}]})
            arrived = stamp if buffer else None

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # inherited by accepted sockets
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)
while True:
    conn, _ = listener.accept()
    conn.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the quota stub uses Linux receive timestamps"
)
def test_paced_calls_reach_the_quota_without_429() -> None:
    """Server quota 2/s, burst 1; 1 + 2x4 calls from two threads: spaced at >= 97 % of the quota,
    and no 429 unless the machine itself held a request back for longer than the pacer's slack.

    The pacer spaces its *grants*; the server's bucket sees *arrivals*. A grant followed by a
    send stalled on a loaded machine (CI: two test workers on two cores) lets the next call
    arrive early, and no client can prevent that with burst 1. So the test times both ends
    (the grant by the wall clock in this process, the arrival by the kernel's receive stamp)
    and accepts a 429 only behind a send that was late by more than the slack. A pacer that
    does not pace, or paces at the bare quota, still fails: its 429s come without late sends.
    """
    rate = 2.0
    server = subprocess.Popen(
        [sys.executable, "-c", QUOTA_SERVER, str(rate), "1"], stdout=subprocess.PIPE, text=True
    )
    grants: dict[str, list[float]] = {asin: [] for asin in ASINS}
    try:
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"  # type: ignore[union-attr]
        auth = LwaAuth(url + "/auth/o2/token", "client-id", "client-SECRET", "Atzr|refresh-SECRET")
        client = SpApiClient(url, auth, timeout=(2.0, 5.0))
        client.item_offers_batch(ASINS[:1])  # the burst token; the 200 tells the client the rate
        pacer = client.pacer("getItemOffersBatch")
        assert pacer.rate == rate
        acquire = pacer.acquire
        errors: list[Exception] = []

        local = threading.local()  # one pacer, two threads: whose grant this is

        def recording_acquire() -> float:
            waited = acquire()
            grants[local.asin].append(time.time())  # the clock of the kernel's receive stamps
            return waited

        pacer.acquire = recording_acquire  # type: ignore[method-assign]

        def worker(asin: str) -> None:
            local.asin = asin
            for _ in range(4):
                try:
                    client.item_offers_batch([asin])
                except Exception as exc:  # collected, asserted below
                    errors.append(exc)

        threads = [threading.Thread(target=worker, args=(a,)) for a in ASINS[1:]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seen = requests.get(url + "/stats", timeout=5).json()
    finally:
        server.kill()
        server.wait()
    assert seen["stamped"] == 9  # every call was timed by the kernel
    slack = pacer.spacing - 1 / rate  # what the margin leaves for a late send (10 ms here)
    assert slack >= 0.02 / (0.98 * rate) - 1e-9  # the default 2 % margin, not the bare quota
    late = []  # sends that reached the server more than the slack after their grant
    for asin in ASINS[1:]:
        arrivals = [at for who, at, _ in seen["calls"] if who == asin]
        assert len(arrivals) == len(grants[asin]) == 4
        late += [
            at - granted for granted, at in zip(grants[asin], arrivals, strict=True) if at - granted > slack
        ]
    statuses = [(who, round(at, 3), ok) for who, at, ok in seen["calls"]]
    assert seen["throttled"] <= len(late), f"429 without a late send: {statuses}, late {late}"
    assert len(errors) == seen["throttled"] == client.stats["getItemOffersBatch"]["throttled"]
    assert all(isinstance(e, QuotaExceededError) for e in errors)
    accepted = seen["accepted"]
    gaps = sorted(later - earlier for earlier, later in zip(accepted, accepted[1:], strict=False))
    # Steady state: the median spacing is within 97 % of the quota (one scheduling stall on a
    # loaded machine loses time no client can win back with burst 1, so the mean is not used).
    assert 1 / rate <= gaps[len(gaps) // 2] <= 1 / (0.97 * rate)


def test_server_errors_are_transient_with_code_and_request_id(stub: SpApiStub) -> None:
    client = make_client(stub)
    failure = {
        "errors": [
            {"code": "InternalFailure", "message": "We encountered an internal error. Please try again."}
        ]
    }
    stub.script.append((500, failure, {}))
    with pytest.raises(TransientError) as info:
        client.item_offers_batch(ASINS[:1])
    assert (info.value.status, info.value.code, info.value.request_id) == (500, "InternalFailure", "req-1")
    assert "internal error" in str(info.value)
    stub.script.append((503, b"<html>Service Unavailable</html>", {}))
    with pytest.raises(TransientError) as info:
        client.item_offers_batch(ASINS[:1])
    assert info.value.status == 503


def test_malformed_json_on_200_is_transient(stub: SpApiStub) -> None:
    client = make_client(stub)
    stub.script.append((200, b'{"responses": [', {}))
    with pytest.raises(TransientError) as info:
        client.item_offers_batch(ASINS[:1])
    assert info.value.code == "MalformedBody" and info.value.request_id == "req-1"
    stub.script.append((200, {"unexpected": True}, {}))
    with pytest.raises(TransientError):
        client.item_offers_batch(ASINS[:1])


def test_other_4xx_is_permanent_with_the_api_message(stub: SpApiStub) -> None:
    client = make_client(stub)
    invalid = {
        "errors": [
            {"code": "InvalidInput", "message": "Duplicate requests submitted. Cannot run batch request."}
        ]
    }
    stub.script.append((400, invalid, {}))
    with pytest.raises(PermanentError) as info:
        client.item_offers_batch(ASINS[:1])
    assert not isinstance(info.value, TransientError)
    assert (info.value.status, info.value.code) == (400, "InvalidInput")
    assert "Duplicate requests submitted" in str(info.value)


def test_read_timeout_is_transient(stub: SpApiStub) -> None:
    auth = LwaAuth(stub.url + "/auth/o2/token", "client-id", "client-SECRET", "Atzr|refresh-SECRET")
    client = SpApiClient(stub.url, auth, timeout=(1.0, 0.2))
    client.pacer("getItemOffersBatch").set_rate(stub.rate)
    stub.script.append((200, 0.5, {}))  # the stub stalls 0.5 s
    with pytest.raises(TransientError, match="timed out"):
        client.item_offers_batch(ASINS[:1])


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    url = f"http://127.0.0.1:{port}"
    client = SpApiClient(url, LwaAuth(url + "/auth/o2/token", "id", "SECRET", "REFRESH"), timeout=(1.0, 1.0))
    with pytest.raises(TransientError) as info:
        client.item_offers_batch(ASINS[:1])
    assert info.value.service == "lwa"  # the token call is the first to fail
    assert "SECRET" not in str(info.value) and "REFRESH" not in str(info.value)


def test_catalog_search_follows_next_token(stub: SpApiStub) -> None:
    client = make_client(stub)
    stub.catalog_pages = [
        {
            "numberOfResults": 3,
            "pagination": {"nextToken": "page-2"},
            "items": [{"asin": ASINS[0]}, {"asin": ASINS[1]}],
        },
        {"numberOfResults": 3, "pagination": {}, "items": [{"asin": ASINS[2]}]},
    ]
    items = client.search_catalog_items(ASINS)
    assert [i["asin"] for i in items] == ASINS
    first, second = stub.requests
    expected = {
        "identifiers": [",".join(ASINS)],
        "identifiersType": ["ASIN"],
        "marketplaceIds": ["A1VC38T7YXB528"],
        "includedData": ["summaries,images"],
        "pageSize": ["20"],
    }
    assert (first["method"], first["path"], first["query"]) == ("GET", CATALOG_PATH, expected)
    assert second["query"] == {**expected, "pageToken": ["page-2"]}
    assert "content-type" not in first["headers"]
