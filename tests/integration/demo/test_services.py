"""demo.services: the demo's upstream services, served for real on loopback.

``serve`` runs in a background event loop (one server for every API, one for a single provider), and a
separate process started with ``python -m demo.services`` serves the same catalogue, so determinism is
checked across caches, processes and hash seeds, not only between two identical requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from demo import demo_config_path
from demo.services import MAX_BODY_BYTES, STREAM_THRESHOLD, UNIVERSE, make_app, serve
from network.config import Api, Catalogue, load_config
from network.localchain import free_port
from tests.support.wait import wait_until

CALLER = "Consortium-Caller-Org"


@functools.cache
def catalogue() -> Catalogue:
    found = load_config(demo_config_path()).catalogue
    assert found is not None
    return found


class Served:
    """``serve(...)`` in an event loop of its own thread, until ``stop``."""

    def __init__(self, provider: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task[None] | None = None
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.task = self.loop.create_task(serve(catalogue(), "127.0.0.1", self.port, provider=provider))
            self.loop.call_soon(started.set)
            with contextlib.suppress(asyncio.CancelledError):
                self.loop.run_until_complete(self.task)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10)
        wait_until(
            lambda: httpx.get(self.url + "/healthz", timeout=2).status_code == 200,
            "the demo services to start",
            10,
            ignoring=(httpx.TransportError,),
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def stop(self) -> None:
        self.client.close()
        task = self.task
        if task is not None:
            self.loop.call_soon_threadsafe(task.cancel)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def services() -> Iterator[Served]:
    served = Served()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def bjic() -> Iterator[Served]:
    served = Served(provider="bjic-cloud")
    yield served
    served.stop()


@pytest.fixture(scope="module")
def process() -> Iterator[str]:
    """``python -m demo.services --port 0 --provider shuzhi-tech`` with another hash seed."""
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "demo.services", "--port", "0", "--provider", "shuzhi-tech"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        failed = child.stderr.read() if child.stderr is not None and child.poll() is not None else ""
        assert "listening on http://127.0.0.1:" in line, (line, failed)
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        child.terminate()
        child.wait(10)


def ask(client: httpx.Client, api: Api, **kwargs: Any) -> httpx.Response:
    return client.request(api.method, api.route, **kwargs)


# -- every API --------------------------------------------------------------------------------------------------


def test_every_catalogue_api_answers_json_with_its_method(services: Served) -> None:
    apis = catalogue().apis()
    assert len(apis) == 80
    for api in apis:
        r = ask(services.client, api, headers={CALLER: "jinghua-sec"})
        assert r.status_code == 200, (api.id, r.text)
        assert r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert set(body) == {"meta", "data"}
        meta = body["meta"]
        assert (meta["api"], meta["provider"], meta["asset"]) == (api.id, api.provider, api.asset), api.id
        assert meta["caller_org"] == "jinghua-sec"
        assert body["data"], f"{api.id}: empty data"
        if isinstance(body["data"], list):
            assert meta["count"] == len(body["data"])


def test_a_route_answers_405_to_other_methods_naming_those_it_serves(services: Served) -> None:
    by_route: dict[str, set[str]] = {}
    for api in catalogue().apis():
        by_route.setdefault(api.route, set()).add(api.method)
    assert by_route["/v1/backtest/jobs"] == {"POST", "DELETE"}  # one route, two APIs
    for route, methods in by_route.items():
        wrong = next(m for m in ("PATCH", "GET", "POST", "PUT", "DELETE") if m not in methods)
        r = services.client.request(wrong, route)
        assert r.status_code == 405, route
        assert r.json()["error"] == "method_not_allowed"
        assert set(r.headers["allow"].split(", ")) == methods


def test_unknown_routes_are_404_json(services: Served) -> None:
    for path in ("/v1/nothing", "/", "/v1/market/quotes/level1/", "/V1/news/latest"):
        r = services.client.get(path)
        assert r.status_code == 404, path
        assert r.json()["error"] == "not_found"


def test_healthz(services: Served, bjic: Served) -> None:
    assert services.client.get("/healthz").json() == {"status": "ok", "provider": None, "apis": 80, "routes": 78}
    mine = [a for a in catalogue().apis() if a.provider == "bjic-cloud"]
    health = bjic.client.get("/healthz").json()
    assert health["provider"] == "bjic-cloud" and health["apis"] == len(mine)


def test_a_provider_serves_only_its_own_apis(bjic: Served) -> None:
    for api in catalogue().apis():
        r = ask(bjic.client, api)
        assert r.status_code == (200 if api.provider == "bjic-cloud" else 404), api.id


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="serves no API"):
        make_app(catalogue(), provider="nobody-sec")


# -- determinism ------------------------------------------------------------------------------------------------


def test_the_same_request_gives_the_same_bytes_in_every_server(services: Served, bjic: Served) -> None:
    for api in catalogue().apis():
        if api.provider != "bjic-cloud":
            continue
        params = {"symbol": "600004.SH", "limit": "7"}
        first = ask(services.client, api, params=params).content
        assert ask(services.client, api, params=params).content == first, api.id
        assert ask(bjic.client, api, params=params).content == first, api.id  # another app, another cache


def test_the_same_request_gives_the_same_bytes_in_another_process(services: Served, process: str) -> None:
    with httpx.Client(base_url=process, timeout=30) as other:
        for api in catalogue().apis():
            if api.provider != "shuzhi-tech":
                continue
            body = {"query": "buyback", "text": "Huaxin Steel reports record profit"} if api.method == "POST" else None
            mine = ask(services.client, api, params={"limit": "5", "date": "2025-03-14"}, json=body)
            theirs = ask(other, api, params={"date": "2025-03-14", "limit": "5"}, json=body)  # order differs
            assert mine.status_code == theirs.status_code == 200, api.id
            assert mine.content == theirs.content, api.id


def test_different_symbols_dates_and_bodies_give_different_data(services: Served) -> None:
    def data(path: str, **params: str) -> Any:
        return services.client.get(path, params=params).json()["data"]

    assert data("/v1/market/quotes/level1", symbol="600001.SH") != data("/v1/market/quotes/level1", symbol="000002.SZ")
    assert data("/v1/market/kline", symbol="600001.SH") != data("/v1/market/kline", symbol="600004.SH")
    assert data("/v1/news/latest", date="2025-06-27") != data("/v1/news/latest", date="2025-06-30")
    quote = data("/v1/market/quotes/level1", symbol="xyz.hk")[0]
    assert quote["symbol"] == "XYZ.HK" and quote["last"] > 0  # any code gets data of its own
    one = services.client.post("/v1/ai/sentiment", json={"text": "record profit, strong growth"}).json()["data"]
    two = services.client.post("/v1/ai/sentiment", json={"text": "loss widens after downgrade"}).json()["data"]
    assert one["results"][0]["label"] == "positive" and two["results"][0]["label"] == "negative"


def test_the_caller_org_is_echoed_but_does_not_change_the_data(services: Served) -> None:
    a = services.client.get("/v1/news/flash", headers={CALLER: "yanshan-sec"}).json()
    b = services.client.get("/v1/news/flash").json()
    assert a["meta"]["caller_org"] == "yanshan-sec" and b["meta"]["caller_org"] is None
    assert a["data"] == b["data"]
    assert a["meta"]["request_id"] == b["meta"]["request_id"]


def test_parameters_are_honoured(services: Served) -> None:
    r = services.client.get("/v1/news/latest", params={"limit": 3}).json()
    assert r["meta"]["count"] == 3 and len(r["data"]) == 3
    r = services.client.get("/v1/reference/securities", params={"limit": 500}).json()
    assert len(r["data"]) == len(UNIVERSE)  # the universe is smaller than the limit
    cal = services.client.get("/v1/reference/calendar", params={"date": "2025-10-15"}).json()["data"]
    assert cal["month"] == 10 and not next(d for d in cal["days"] if d["date"] == "2025-10-01")["trading"]
    option = {"spot": 100, "strike": 100, "vol": 0.2, "rate": 0.0, "maturity_years": 1}
    pricing = services.client.post("/v1/otc/pricing", json=option).json()["data"]
    assert pricing["price"] == pytest.approx(7.9656, abs=1e-3)  # Black-Scholes at the money, one year, 20 % vol


# -- errors -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/news/latest", {"limit": "0"}),
        ("/v1/news/latest", {"limit": "501"}),
        ("/v1/news/latest", {"limit": "ten"}),
        ("/v1/news/latest", {"date": "2025-13-01"}),
        ("/v1/market/quotes/level1", {"symbol": "no spaces"}),
        ("/v1/market/kline", {"period": "3h"}),
        ("/v1/market/ticks", {"limit": "1000001"}),
        ("/v1/macro/series", {"indicator": "unknown"}),
    ],
)
def test_bad_parameters_are_400_json(services: Served, path: str, params: dict[str, str]) -> None:
    r = services.client.get(path, params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_request" and r.json()["detail"]


def test_a_malformed_date_is_400_on_every_api_even_one_that_ignores_the_date(services: Served) -> None:
    """Every answer names its as-of date, so a malformed ``date`` is the caller's mistake everywhere (it was a 500
    on the APIs whose data does not depend on the date)."""
    for api in catalogue().apis():
        r = ask(services.client, api, params={"date": "2025-13-01"})
        assert r.status_code == 400, (api.id, r.status_code, r.text[:200])
        assert r.json()["error"] == "bad_request" and "date" in r.json()["detail"], api.id


def test_bad_bodies_are_400_json(services: Served) -> None:
    post = services.client.post
    for content in (b"{not json", b"[1, 2]", b"\xff\xfe", b'"text"'):
        r = post("/v1/news/search", content=content, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, content
        assert r.json()["error"] == "bad_request"
    r = post("/v1/news/search", json={"query": "x" * MAX_BODY_BYTES})
    assert r.status_code == 400 and "bytes" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds for a chunked body too
        for _ in range(20):
            yield b" " * 4096

    r = post("/v1/news/search", content=chunks())
    assert r.status_code == 400 and "bytes" in r.json()["detail"]
    r = post("/v1/otc/pricing", json={"spot": -1})
    assert r.status_code == 400 and "body.spot" in r.json()["detail"]
    assert post("/v1/news/search", content=b"").status_code == 200  # an empty body is {}


# -- streaming ---------------------------------------------------------------------------------------------------


def test_large_tick_and_bar_requests_stream_chunked_and_complete(services: Served) -> None:
    n = 60_000
    cases: list[tuple[str, dict[str, str | int]]] = [
        ("/v1/market/ticks", {"limit": n}),
        ("/v1/market/kline", {"limit": n, "period": "1m"}),
    ]
    for path, params in cases:
        with services.client.stream("GET", path, params=params) as r:
            assert r.status_code == 200
            assert r.headers.get("transfer-encoding") == "chunked" and "content-length" not in r.headers
            pieces = list(r.iter_raw())
        assert len(pieces) > 1
        body = json.loads(b"".join(pieces))
        rows = body["data"]["rows"]
        assert body["meta"]["count"] == len(rows) == n
        if path.endswith("ticks"):
            assert [row[0] for row in rows] == list(range(1, n + 1))
        again = services.client.get(path, params=params)
        assert again.content == b"".join(pieces)  # streamed answers are deterministic too


def test_small_requests_of_streaming_routes_are_plain(services: Served) -> None:
    r = services.client.get("/v1/market/ticks", params={"limit": STREAM_THRESHOLD})
    assert r.headers.get("content-length") == str(len(r.content))
    assert len(r.json()["data"]["rows"]) == STREAM_THRESHOLD
