"""The demo services' aiohttp application: routes every API of a catalogue to its generator, caches the
answers of small requests, streams large ones, and serves it (:func:`serve`; :func:`main` for
``python -m demo.services``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import math
import random
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from gateway.headers import CALLER_ORG_HEADER
from network.config import Api, Catalogue, load_config

__all__ = [
    "CALLER_HEADER",
    "MAX_BODY_BYTES",
    "MAX_LIMIT",
    "MAX_STREAM_LIMIT",
    "STREAM_THRESHOLD",
    "main",
    "make_app",
    "serve",
]

CALLER_HEADER: Final = CALLER_ORG_HEADER
MAX_BODY_BYTES: Final = 64 * 1024
MAX_LIMIT: Final = 500
MAX_STREAM_LIMIT: Final = 1_000_000
#: Rows above which a streaming route answers in chunks (chunked transfer encoding).
STREAM_THRESHOLD: Final = 1000
STREAM_BATCH: Final = 2000
DEFAULT_DATE: Final = dt.date(2025, 6, 30)
CACHE_ENTRIES: Final = 4096
CACHE_MAX_BODY: Final = 32 * 1024
_JSON_TYPE: Final = "application/json; charset=utf-8"
_SYMBOL = re.compile(r"[A-Za-z0-9._-]{1,32}")
_TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


# -- the fictional universe (computed once at import) ---------------------------------------------------------

_PREFIXES = (
    "Huaxin",
    "Jinlong",
    "Tianyu",
    "Zhongke",
    "Hongda",
    "Beichen",
    "Donghai",
    "Ruifeng",
    "Hengtai",
    "Kangyuan",
    "Xinghe",
    "Yuanshan",
)
_SECTORS = (
    ("Steel", "materials"),
    ("Pharmaceutical", "health-care"),
    ("Bank", "financials"),
    ("Motors", "consumer-discretionary"),
    ("Semiconductor", "information-technology"),
    ("Power", "utilities"),
    ("Foods", "consumer-staples"),
    ("Logistics", "industrials"),
)
_BOARDS = (("SH", "main"), ("SZ", "main"), ("SZ", "chinext"))


@dataclass(frozen=True, slots=True)
class _Security:
    symbol: str
    name: str
    industry: str
    exchange: str
    board: str
    base_price: float
    list_date: str


def _base_price(symbol: str) -> float:
    h = int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:4], "big")
    return round(3.0 + (h % 29_700) / 100, 2)


def _make_universe() -> tuple[_Security, ...]:
    out = []
    for i in range(48):
        exchange, board = _BOARDS[i % 3]
        lead = {0: "6", 1: "0", 2: "3"}[i % 3]
        symbol = f"{lead}{i + 1:05d}.{exchange}"
        word, industry = _SECTORS[(i // 12 + i) % len(_SECTORS)]
        listed = dt.date(1995 + (i * 7) % 28, 1 + (i * 5) % 12, 1 + (i * 11) % 28)
        out.append(
            _Security(
                symbol, f"{_PREFIXES[i % 12]} {word}", industry, exchange, board, _base_price(symbol), str(listed)
            )
        )
    return tuple(out)


UNIVERSE: Final = _make_universe()
_BY_SYMBOL: Final = {s.symbol: s for s in UNIVERSE}
_INDUSTRIES: Final = tuple(dict.fromkeys(s for _, s in _SECTORS))
_SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun", "Ma", "Zhu")
_GIVEN = ("Wei", "Fang", "Jing", "Lei", "Min", "Tao", "Yan", "Jun", "Hui", "Qiang", "Xia", "Ping", "Hao", "Lin")
_SOURCES = ("Capital Daily", "Jinghua Wire", "Shuzhi Newsroom", "Market Herald", "Bund Observer", "Yanshan Finance")
_AGENCIES = ("Yongding Ratings", "Capital Credit", "North Star Ratings")
_RATINGS = ("AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BB")
_ESG_GRADES = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC")
_TENORS = (0.25, 0.5, 1, 2, 3, 5, 7, 10, 15, 20, 30)
_STYLE_FACTORS = ("size", "beta", "momentum", "value", "volatility", "liquidity", "growth", "leverage")
_FACTORS: Final = (
    ("momentum_20d", "momentum", "20-day price momentum, skipping the last day"),
    ("reversal_5d", "momentum", "5-day short-term reversal"),
    ("value_bp", "value", "book-to-price"),
    ("value_ep", "value", "trailing earnings yield"),
    ("quality_roe", "quality", "return on equity, trailing twelve months"),
    ("quality_accruals", "quality", "operating accruals over total assets"),
    ("growth_sales", "growth", "year-on-year revenue growth"),
    ("lowvol_60d", "risk", "negative 60-day realised volatility"),
    ("liquidity_turnover", "liquidity", "20-day average turnover rate"),
    ("analyst_revision", "sentiment", "3-month revision of consensus EPS"),
    ("northbound_flow", "flow", "10-day net buying through the connect programmes"),
    ("size_ln_mcap", "size", "log of free-float market capitalisation"),
)
_STRATEGIES: Final = (
    ("mf-enhanced-300", "Multi-Factor Enhanced 300", "multi-factor"),
    ("cta-trend-1", "Commodity Trend Follower", "cta"),
    ("stat-arb-pairs", "Sector Pairs Arbitrage", "statistical-arbitrage"),
    ("event-driven-1", "Earnings Surprise Drift", "event-driven"),
    ("low-vol-dividend", "Low Volatility Dividend", "smart-beta"),
    ("convertible-alpha", "Convertible Bond Alpha", "relative-value"),
)
_INDICES: Final = (
    ("JH100", "Jinghua 100"),
    ("JH300", "Jinghua 300"),
    ("JHGRW", "Jinghua Growth"),
    ("JHVAL", "Jinghua Value"),
    ("JHDIV", "Jinghua Dividend"),
    ("JHESG", "Jinghua ESG Leaders"),
)
_MACRO: Final = (
    ("gdp_yoy", "Real GDP, year on year", "%", "quarterly", 5.0, 0.6),
    ("cpi_yoy", "Consumer prices, year on year", "%", "monthly", 0.8, 0.6),
    ("ppi_yoy", "Producer prices, year on year", "%", "monthly", -1.5, 1.2),
    ("pmi_mfg", "Manufacturing PMI", "index", "monthly", 50.0, 1.0),
    ("m2_yoy", "Broad money M2, year on year", "%", "monthly", 8.5, 0.8),
    ("tsf_stock_yoy", "Total social financing stock, year on year", "%", "monthly", 8.7, 0.5),
    ("ip_yoy", "Industrial production, year on year", "%", "monthly", 5.8, 1.0),
    ("retail_yoy", "Retail sales, year on year", "%", "monthly", 4.5, 1.5),
    ("exports_yoy", "Exports in USD, year on year", "%", "monthly", 4.0, 4.0),
    ("urban_unemployment", "Surveyed urban unemployment rate", "%", "monthly", 5.1, 0.2),
)
_CURVES: Final = (
    ("treasury", 1.35, 0.0),
    ("policy-bank", 1.45, 0.12),
    ("aaa-credit", 1.70, 0.25),
    ("aa-plus-credit", 1.95, 0.45),
    ("aa-credit", 2.30, 0.70),
)
_COUNTERPARTIES: Final = tuple(
    (f"cp-{i + 1:03d}", name, kind)
    for i, (name, kind) in enumerate(
        (
            ("Huaxin Asset Management", "asset-manager"),
            ("Donghai Trust", "trust"),
            ("Beichen Private Fund", "private-fund"),
            ("Ruifeng Insurance", "insurer"),
            ("Hengtai Rural Bank", "bank"),
            ("Xinghe Futures", "futures-broker"),
            ("Yuanshan Wealth Partners", "private-fund"),
            ("Kangyuan Pension Fund", "pension"),
        )
    )
)
_FUNDS: Final = tuple(
    (f"F{100001 + i}", f"Tonghui {name} Fund", kind)
    for i, (name, kind) in enumerate(
        (
            ("Balanced Growth", "hybrid"),
            ("Dividend Select", "equity"),
            ("Short Bond", "bond"),
            ("Money Market", "money-market"),
            ("Technology Innovation", "equity"),
            ("Index 300", "index"),
        )
    )
)
_SCENARIOS: Final = (
    ("equity-crash-2015", "Equity market crash, summer 2015", -0.32),
    ("pandemic-2020", "Pandemic shock, Q1 2020", -0.14),
    ("rates-up-100bp", "Parallel rise of 100 bp in rates", -0.05),
    ("credit-spread-wide", "Credit spreads widen 150 bp", -0.07),
    ("cny-depreciation", "CNY depreciates 8 %", -0.04),
    ("liquidity-freeze", "Interbank liquidity freeze", -0.09),
)
_NEWS_TOPICS = (
    "quarterly results beat expectations",
    "announces share buyback",
    "wins large supply contract",
    "cuts full-year guidance",
    "expands production capacity",
    "faces regulatory inquiry",
    "completes bond issuance",
    "signs strategic cooperation agreement",
    "reports record order backlog",
    "management reshuffle announced",
)
_REPORT_TITLES = (
    "margin recovery ahead",
    "initiating coverage",
    "earnings review",
    "valuation reset",
    "new capacity drives growth",
)
_CONTROVERSIES = (
    "fined for emissions breach",
    "faces labour dispute",
    "recalls a product line",
    "board independence questioned",
)
_ANN_CATEGORIES = ("periodic-report", "dividend", "major-contract", "shareholding-change", "board-resolution", "audit")
_POSITIVE = ("beat", "record", "growth", "upgrade", "buyback", "expand", "win", "strong", "surge", "profit")
_NEGATIVE = ("miss", "cut", "loss", "downgrade", "inquiry", "default", "decline", "weak", "plunge", "penalty")


# -- requests and errors --------------------------------------------------------------------------------------


class DemoError(Exception):
    """Root of the errors of :mod:`demo`."""


class BadRequestError(DemoError):
    """A parameter or body the service cannot use: answered 400 with this message as the detail."""


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _error(status: int, error: str, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    out = {"Content-Type": _JSON_TYPE, **(headers or {})}
    return web.Response(status=status, body=_json_bytes({"error": error, "detail": detail}), headers=out)


@dataclass
class Req:
    """One request as the generators see it: its API, parsed parameters, body and seeded random source."""

    api: Api
    unit: str
    center: str
    query: Mapping[str, str]
    body: dict[str, Any]
    seed: bytes
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(int.from_bytes(self.seed, "big"))

    # query parameters

    def text(self, name: str, default: str, pattern: re.Pattern[str] = _TOKEN) -> str:
        value = self.query.get(name)
        if value is None or value == "":
            return default
        if pattern.fullmatch(value) is None:
            raise BadRequestError(f"{name}: {value[:40]!r} is not valid here")
        return value

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        value = self.query.get(name) or default
        if value not in choices:
            raise BadRequestError(f"{name}: {value[:40]!r} is not one of {', '.join(choices)}")
        return value

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or len(raw) > 9 or not lo <= int(raw) <= hi:
            raise BadRequestError(f"{name}: {raw[:20]!r} is not an integer in {lo}..{hi}")
        return int(raw)

    def limit(self, default: int = 20, hi: int = MAX_LIMIT) -> int:
        return self.integer("limit", default, 1, hi)

    @property
    def date(self) -> dt.date:
        raw = self.query.get("date")
        if not raw:
            return DEFAULT_DATE
        try:
            return dt.date.fromisoformat(raw) if len(raw) == 10 else _bad_date(raw)
        except ValueError:
            return _bad_date(raw)

    def symbol(self, default: str = UNIVERSE[0].symbol) -> str:
        value = self.body.get("symbol") if isinstance(self.body.get("symbol"), str) else None
        value = self.query.get("symbol") or value or default
        if _SYMBOL.fullmatch(value) is None:
            raise BadRequestError(f"symbol: {value[:40]!r} is not a security code ([A-Za-z0-9._-], at most 32)")
        return value.upper()

    def symbols(self, default: int = 5, hi: int = 50) -> list[str]:
        raw = self.query.get("symbols")
        if not raw:
            return [self.symbol()] if self.query.get("symbol") else [s.symbol for s in UNIVERSE[:default]]
        found = [s.strip() for s in raw.split(",") if s.strip()]
        if len(found) > hi:
            raise BadRequestError(f"symbols: {len(found)} given, at most {hi}")
        for s in found:
            if _SYMBOL.fullmatch(s) is None:
                raise BadRequestError(f"symbols: {s[:40]!r} is not a security code")
        return [s.upper() for s in dict.fromkeys(found)]

    # body fields

    def b_text(self, name: str, default: str = "", max_len: int = 16_384) -> str:
        value = self.body.get(name, default)
        if not isinstance(value, str) or len(value) > max_len:
            raise BadRequestError(f"body.{name}: expected a string of at most {max_len} characters")
        return value

    def b_number(self, name: str, default: float, lo: float, hi: float) -> float:
        value = self.body.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise BadRequestError(f"body.{name}: expected a number in {lo:g}..{hi:g}")
        return float(value)

    def b_list(self, name: str, hi: int = 100) -> list[Any]:
        value = self.body.get(name, [])
        if not isinstance(value, list) or len(value) > hi:
            raise BadRequestError(f"body.{name}: expected a list of at most {hi} items")
        return value

    def b_strings(self, name: str, hi: int = 100, max_len: int = 256) -> list[str]:
        values = self.b_list(name, hi)
        if any(not isinstance(v, str) or not v or len(v) > max_len for v in values):
            raise BadRequestError(f"body.{name}: expected non-empty strings of at most {max_len} characters")
        return values

    def portfolio(self) -> dict[str, float]:
        """``body.portfolio``: ``{symbol: weight}``; default an equal-weighted five-stock portfolio."""
        raw = self.body.get("portfolio")
        if raw is None:
            return {s.symbol: 0.2 for s in UNIVERSE[:5]}
        if not isinstance(raw, dict) or not 1 <= len(raw) <= 500:
            raise BadRequestError("body.portfolio: expected an object of 1..500 {symbol: weight}")
        out = {}
        for symbol, weight in raw.items():
            if _SYMBOL.fullmatch(symbol) is None or isinstance(weight, bool) or not isinstance(weight, int | float):
                raise BadRequestError(f"body.portfolio: {symbol[:40]!r} must be a security code with a numeric weight")
            if not -10 <= weight <= 10:
                raise BadRequestError(f"body.portfolio: weight of {symbol!r} must be within -10..10")
            out[symbol.upper()] = float(weight)
        return out

    # random helpers

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def num(self, lo: float, hi: float, digits: int = 2) -> float:
        return round(lo + (hi - lo) * self.rng.random(), digits)

    def hexid(self, salt: str, n: int = 12) -> str:
        return hashlib.sha256(self.seed + salt.encode()).hexdigest()[:n]

    def person(self) -> str:
        return f"{self.pick(_SURNAMES)} {self.pick(_GIVEN)}"

    def days_back(self, n: int) -> list[dt.date]:
        """The ``n`` trading days up to ``date``, newest first."""
        out: list[dt.date] = []
        day = self.date
        while len(out) < n:
            if _is_trading_day(day):
                out.append(day)
            day -= dt.timedelta(days=1)
        return out


def _bad_date(raw: str) -> dt.date:
    raise BadRequestError(f"date: {raw[:20]!r} is not a date YYYY-MM-DD")


def _security(symbol: str) -> _Security:
    found = _BY_SYMBOL.get(symbol)
    if found is not None:
        return found
    h = hashlib.sha256(symbol.encode()).digest()
    exchange = symbol.rsplit(".", 1)[-1] if "." in symbol else "OTC"
    industry = _INDUSTRIES[h[4] % len(_INDUSTRIES)]
    return _Security(symbol, f"Security {symbol}", industry, exchange, "main", _base_price(symbol), "2010-01-04")


_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3), (10, 4), (10, 5)})


def _is_trading_day(day: dt.date) -> bool:
    return day.weekday() < 5 and (day.month, day.day) not in _HOLIDAYS


def _stamp(day: dt.date, seconds: int) -> str:
    """``day`` at ``seconds`` after 09:30 in the trading session (a lunch break 11:30-13:00), +08:00."""
    seconds = max(0, min(seconds, 4 * 3600 - 1))
    if seconds >= 2 * 3600:
        seconds += 5400
    t = 9 * 3600 + 1800 + seconds
    return f"{day.isoformat()}T{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}+08:00"


def _quote(r: Req, symbol: str) -> dict[str, Any]:
    sec = _security(symbol)
    prev = sec.base_price
    last = round(prev * (1 + r.rng.uniform(-0.05, 0.05)), 2)
    high = round(max(prev, last) * (1 + r.rng.uniform(0, 0.02)), 2)
    low = round(min(prev, last) * (1 - r.rng.uniform(0, 0.02)), 2)
    volume = r.rng.randrange(100, 5_000_000) * 100
    return {
        "symbol": sec.symbol,
        "name": sec.name,
        "last": last,
        "open": round(prev * (1 + r.rng.uniform(-0.01, 0.01)), 2),
        "high": high,
        "low": low,
        "prev_close": prev,
        "change_pct": round((last / prev - 1) * 100, 2),
        "volume": volume,
        "turnover": round(volume * last, 2),
        "bid": round(last - 0.01, 2),
        "ask": round(last + 0.01, 2),
        "bid_size": r.rng.randrange(1, 500) * 100,
        "ask_size": r.rng.randrange(1, 500) * 100,
        "time": _stamp(r.date, 4 * 3600 - 1),
    }


# -- market data ------------------------------------------------------------------------------------------------


def _level1(r: Req) -> Any:
    return [_quote(r, s) for s in r.symbols()]


def _level2(r: Req) -> Any:
    sec = _security(r.symbol())
    mid = round(sec.base_price * (1 + r.rng.uniform(-0.03, 0.03)), 2)
    book: dict[str, Any] = {"symbol": sec.symbol, "name": sec.name, "time": _stamp(r.date, 3600), "last": mid}
    for side, sign in (("bids", -1), ("asks", 1)):
        book[side] = [
            {
                "level": i + 1,
                "price": round(mid + sign * 0.01 * (i + 1), 2),
                "size": r.rng.randrange(1, 2000) * 100,
                "orders": r.rng.randrange(1, 90),
            }
            for i in range(10)
        ]
    return book


def _ticks(r: Req, n: int) -> Iterator[Any]:
    sec = _security(r.symbol())
    price, rng, day = sec.base_price, r.rng, r.date
    step = max(1, 14_400 // max(n, 1))
    for i in range(n):
        price = max(0.01, round(price + rng.choice((-0.02, -0.01, 0.0, 0.0, 0.01, 0.02)), 2))
        t = (i * step) if n <= 14_400 else (i * 14_400 // n)
        yield [i + 1, _stamp(day, t), price, rng.randrange(1, 300) * 100, "B" if rng.random() < 0.5 else "S"]


def _ticks_meta(r: Req) -> dict[str, Any]:
    sec = _security(r.symbol())
    return {"symbol": sec.symbol, "name": sec.name, "columns": ["seq", "time", "price", "volume", "side"]}


_PERIODS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "60m": 3600, "1d": 86_400, "1w": 7 * 86_400}


def _bars(r: Req, n: int) -> Iterator[Any]:
    sec = _security(r.symbol())
    period = r.choice("period", "1d", tuple(_PERIODS))
    seconds, rng, close = _PERIODS[period], r.rng, sec.base_price
    end = dt.datetime.combine(r.date, dt.time(15, 0))
    for i in range(n):
        back = n - 1 - i
        if seconds >= 86_400:
            when = (end - dt.timedelta(seconds=seconds * back)).date().isoformat()
        else:  # intraday bars: a session of 240 minutes a day
            per_day = max(1, 14_400 // seconds)
            day = r.date - dt.timedelta(days=back // per_day)
            when = _stamp(day, (per_day - 1 - back % per_day) * seconds + seconds - 1)
        open_ = close
        close = max(0.01, round(open_ * (1 + rng.gauss(0, 0.01 if seconds < 86_400 else 0.02)), 2))
        high = round(max(open_, close) * (1 + rng.random() * 0.01), 2)
        low = round(min(open_, close) * (1 - rng.random() * 0.01), 2)
        volume = rng.randrange(100, 90_000 if seconds < 86_400 else 900_000) * 100
        yield [when, open_, high, low, close, volume, round(volume * close, 2)]


def _bars_meta(r: Req) -> dict[str, Any]:
    sec = _security(r.symbol())
    return {
        "symbol": sec.symbol,
        "name": sec.name,
        "period": r.choice("period", "1d", tuple(_PERIODS)),
        "adjust": r.choice("adjust", "forward", ("none", "forward", "backward")),
        "columns": ["time", "open", "high", "low", "close", "volume", "turnover"],
    }


# -- news and announcements --------------------------------------------------------------------------------------


def _headline(r: Req, symbol: str | None = None) -> dict[str, Any]:
    sec = _security(symbol) if symbol else r.pick(UNIVERSE)
    topic = r.pick(_NEWS_TOPICS)
    return {
        "id": f"news-{r.hexid(str(r.rng.random()), 10)}",
        "time": _stamp(r.date, r.rng.randrange(14_400)),
        "title": f"{sec.name} {topic}",
        "source": r.pick(_SOURCES),
        "symbols": [sec.symbol],
        "industry": sec.industry,
        "summary": f"{sec.name} ({sec.symbol}) {topic}; analysts expect a {r.pick(('limited', 'moderate', 'material'))}"
        f" effect on {r.pick(('earnings', 'margins', 'cash flow', 'valuation'))}.",
    }


def _news_latest(r: Req) -> Any:
    return sorted((_headline(r) for _ in range(r.limit())), key=lambda x: x["time"], reverse=True)


def _news_by_security(r: Req) -> Any:
    symbol = r.symbol()
    return sorted((_headline(r, symbol) for _ in range(r.limit(10))), key=lambda x: x["time"], reverse=True)


def _news_search(r: Req) -> Any:
    query = r.b_text("query", "earnings", 256)
    limit = int(r.b_number("limit", 10, 1, MAX_LIMIT))
    symbols = r.b_strings("symbols", 50, 32)
    hits = []
    for i in range(limit):
        item = _headline(r, r.pick(symbols).upper() if symbols else None)
        item["score"] = round(1 - i / (limit + 1) - r.rng.random() * 0.01, 4)
        item["highlight"] = f"...{query}... {item['title']}"
        hits.append(item)
    return {"query": query, "total": limit + r.rng.randrange(0, 5000), "hits": hits}


def _news_flash(r: Req) -> Any:
    out = []
    for i in range(r.limit()):
        sec = r.pick(UNIVERSE)
        out.append(
            {
                "id": f"flash-{r.hexid(f'flash{i}', 10)}",
                "time": _stamp(r.date, 14_399 - i * 37),
                "text": f"[{sec.symbol}] {sec.name}: {r.pick(_NEWS_TOPICS)}",
                "importance": r.pick(("low", "normal", "high")),
            }
        )
    return out


def _announcement(r: Req, symbol: str | None = None) -> dict[str, Any]:
    sec = _security(symbol) if symbol else r.pick(UNIVERSE)
    category = r.pick(_ANN_CATEGORIES)
    day = r.date - dt.timedelta(days=r.rng.randrange(0, 90))
    return {
        "id": f"ann-{r.hexid(str(r.rng.random()), 10)}",
        "symbol": sec.symbol,
        "name": sec.name,
        "category": category,
        "title": f"{sec.name}: announcement on {category.replace('-', ' ')}",
        "publish_date": day.isoformat(),
        "pages": r.rng.randrange(1, 180),
    }


def _ann_list(r: Req) -> Any:
    symbol = r.symbol() if r.query.get("symbol") else None
    items = [_announcement(r, symbol) for _ in range(r.limit())]
    return sorted(items, key=lambda x: x["publish_date"], reverse=True)


def _ann_document(r: Req) -> Any:
    doc_id = r.text("id", "ann-0000000000")
    doc = _announcement(r, r.symbol() if r.query.get("symbol") else None)
    doc["id"] = doc_id
    doc["sections"] = [
        {"heading": heading, "text": f"{doc['name']} {sentence}"}
        for heading, sentence in (
            ("Important notice", "guarantees that this announcement is true, accurate and complete."),
            ("Summary", f"discloses matters of {doc['category'].replace('-', ' ')}."),
            ("Details", f"The amount involved is CNY {r.num(1, 900, 1)} million."),
            ("Risk warning", "Investors are advised to take note of investment risks."),
        )
    ]
    return doc


def _ann_search(r: Req) -> Any:
    query = r.b_text("query", "dividend", 256)
    category = r.b_text("category", "", 64)
    if category and category not in _ANN_CATEGORIES:
        raise BadRequestError(f"body.category: one of {', '.join(_ANN_CATEGORIES)}")
    hits = [_announcement(r) for _ in range(int(r.b_number("limit", 10, 1, MAX_LIMIT)))]
    for hit in hits:
        hit["category"] = category or hit["category"]
    return {"query": query, "hits": hits}


def _ann_subscribe(r: Req) -> Any:
    symbols = r.b_strings("symbols", 200, 32) or [UNIVERSE[0].symbol]
    categories = r.b_strings("categories", 20, 64) or list(_ANN_CATEGORIES)
    unknown = [c for c in categories if c not in _ANN_CATEGORIES]
    if unknown:
        raise BadRequestError(f"body.categories: unknown {unknown[0]!r}; use {', '.join(_ANN_CATEGORIES)}")
    return {
        "subscription_id": f"sub-{r.hexid('subscription', 16)}",
        "status": "active",
        "symbols": [s.upper() for s in symbols],
        "categories": categories,
        "delivery": r.b_text("callback", "", 512) or "poll",
    }


# -- reference data ------------------------------------------------------------------------------------------------


def _securities(r: Req) -> Any:
    if r.query.get("symbol"):
        chosen = [_security(r.symbol())]
    else:
        offset = r.integer("offset", 0, 0, len(UNIVERSE))
        chosen = list(UNIVERSE[offset : offset + r.limit(50)])
    return [
        {
            "symbol": s.symbol,
            "name": s.name,
            "exchange": s.exchange,
            "board": s.board,
            "industry": s.industry,
            "list_date": s.list_date,
            "status": "listed",
            "shares_outstanding": int(s.base_price * 7_919_731) % 9_000_000_000 + 100_000_000,
        }
        for s in chosen
    ]


def _calendar(r: Req) -> Any:
    year = r.integer("year", r.date.year, 1990, 2100)
    month = r.integer("month", r.date.month, 1, 12)
    first = dt.date(year, month, 1)
    days = []
    day = first
    while day.month == month:
        days.append({"date": day.isoformat(), "trading": _is_trading_day(day), "exchanges": ["SSE", "SZSE"]})
        day += dt.timedelta(days=1)
    return {"year": year, "month": month, "days": days}


def _corporate_actions(r: Req) -> Any:
    sec = _security(r.symbol())
    out = []
    for i in range(r.limit(5)):
        kind = r.pick(("cash-dividend", "stock-dividend", "split", "rights-issue"))
        ex = r.date - dt.timedelta(days=90 * (i + 1) + r.rng.randrange(30))
        row: dict[str, Any] = {"symbol": sec.symbol, "type": kind, "ex_date": ex.isoformat()}
        if kind == "cash-dividend":
            row["cash_per_10_shares"] = r.num(0.5, 12, 2)
        elif kind == "rights-issue":
            row["ratio"], row["price"] = f"10:{r.rng.randrange(1, 4)}", round(sec.base_price * 0.7, 2)
        else:
            row["ratio"] = f"10:{r.rng.randrange(2, 11)}"
        out.append(row)
    return out


def _industries(r: Req) -> Any:
    level = r.integer("level", 2, 1, 3)
    out = []
    for i, name in enumerate(_INDUSTRIES):
        node: dict[str, Any] = {"code": f"{i + 1:02d}", "name": name}
        if level >= 2:
            node["children"] = [
                {"code": f"{i + 1:02d}{j + 1:02d}", "name": f"{name} segment {j + 1}"}
                | (
                    {
                        "children": [
                            {"code": f"{i + 1:02d}{j + 1:02d}{k + 1:02d}", "name": f"sub-segment {k + 1}"}
                            for k in range(2)
                        ]
                    }
                    if level == 3
                    else {}
                )
                for j in range(3)
            ]
        out.append(node)
    return {"standard": "demo-industry-classification-v1", "level": level, "classes": out}


# -- macro and industry --------------------------------------------------------------------------------------------


def _macro_row(ident: str) -> tuple[str, str, str, str, float, float]:
    for row in _MACRO:
        if row[0] == ident:
            return row
    raise BadRequestError(f"indicator: {ident!r} is not one of {', '.join(m[0] for m in _MACRO)}")


def _macro_indicators(r: Req) -> Any:
    return [
        {
            "id": ident,
            "name": name,
            "unit": unit,
            "frequency": freq,
            "latest": round(base + r.rng.gauss(0, sd), 2),
            "previous": round(base + r.rng.gauss(0, sd), 2),
            "period": f"{r.date.year}-{r.date.month:02d}",
        }
        for ident, name, unit, freq, base, sd in _MACRO
    ]


def _macro_series(r: Req) -> Any:
    ident, name, unit, freq, base, sd = _macro_row(r.text("indicator", "cpi_yoy"))
    n, value, points = r.limit(24, 240), base, []
    for i in range(n):
        back = n - 1 - i
        if freq == "quarterly":
            q = (r.date.year * 4 + (r.date.month - 1) // 3) - back
            period = f"{q // 4}Q{q % 4 + 1}"
        else:
            m = r.date.year * 12 + r.date.month - 1 - back
            period = f"{m // 12}-{m % 12 + 1:02d}"
        value = round(value + r.rng.gauss(0, sd / 3) + (base - value) * 0.2, 2)
        points.append({"period": period, "value": value})
    return {"indicator": ident, "name": name, "unit": unit, "frequency": freq, "points": points}


def _macro_calendar(r: Req) -> Any:
    out = []
    for i in range(r.limit(10, 60)):
        ident, name, unit, _freq, base, sd = r.pick(_MACRO)
        day = r.date + dt.timedelta(days=i // 2)
        out.append(
            {
                "date": day.isoformat(),
                "time": f"{9 + i % 2}:30",
                "indicator": ident,
                "event": name,
                "unit": unit,
                "forecast": round(base + r.rng.gauss(0, sd / 2), 2),
                "previous": round(base, 2),
            }
        )
    return out


def _macro_nowcast(r: Req) -> Any:
    quarter = f"{r.date.year}Q{(r.date.month - 1) // 3 + 1}"
    point = r.num(4.2, 5.6, 2)
    return {
        "quarter": quarter,
        "gdp_yoy_nowcast": point,
        "interval_90": [round(point - 0.6, 2), round(point + 0.6, 2)],
        "model": "dynamic-factor-model/v3",
        "contributions": {m[0]: r.num(-0.4, 0.6, 3) for m in _MACRO[1:8]},
    }


def _industry_param(r: Req) -> str:
    return r.choice("industry", _INDUSTRIES[0], _INDUSTRIES)


def _industry_metrics(r: Req) -> Any:
    industry = _industry_param(r)
    return {
        "industry": industry,
        "period": f"{r.date.year}Q{(r.date.month - 1) // 3 + 1}",
        "metrics": {
            "revenue_growth_pct": r.num(-10, 25),
            "gross_margin_pct": r.num(8, 55),
            "capacity_utilisation_pct": r.num(55, 95),
            "inventory_days": r.num(20, 160, 1),
            "capex_growth_pct": r.num(-20, 40),
            "listed_companies": sum(1 for s in UNIVERSE if s.industry == industry),
        },
    }


def _chain_map(r: Req) -> Any:
    industry = _industry_param(r)
    others = [i for i in _INDUSTRIES if i != industry]
    up, down = others[:3], others[3:6]
    nodes = [
        {"id": n, "stage": s}
        for s, group in (("upstream", up), ("core", [industry]), ("downstream", down))
        for n in group
    ]
    links = [{"from": u, "to": industry, "weight": r.num(0.05, 0.6, 3)} for u in up]
    links += [{"from": industry, "to": d, "weight": r.num(0.05, 0.6, 3)} for d in down]
    return {"industry": industry, "nodes": nodes, "links": links}


def _supply_chain(r: Req) -> Any:
    sec = _security(r.symbol())
    others = [s for s in UNIVERSE if s.symbol != sec.symbol]

    def parties(role: str) -> list[dict[str, Any]]:
        chosen = r.rng.sample(others, 4)
        shares = [r.rng.random() for _ in chosen]
        total = sum(shares) / r.num(0.2, 0.6)
        return [
            {"symbol": s.symbol, "name": s.name, "role": role, "share_pct": round(100 * w / total, 2)}
            for s, w in zip(chosen, shares, strict=True)
        ]

    return {"symbol": sec.symbol, "suppliers": parties("supplier"), "customers": parties("customer")}


def _prosperity(r: Req) -> Any:
    out = []
    for industry in _INDUSTRIES:
        value = r.num(35, 70, 1)
        out.append(
            {
                "industry": industry,
                "index": value,
                "previous": round(value + r.rng.gauss(0, 2), 1),
                "trend": r.pick(("rising", "stable", "falling")),
            }
        )
    return {"month": f"{r.date.year}-{r.date.month:02d}", "industries": out}


# -- indices -------------------------------------------------------------------------------------------------------


def _index_param(r: Req) -> tuple[str, str]:
    code = r.choice("index", _INDICES[1][0], tuple(i[0] for i in _INDICES))
    return next(i for i in _INDICES if i[0] == code)


def _index_quotes(r: Req) -> Any:
    out = []
    for code, name in _INDICES:
        level = 1000 + (int(hashlib.sha256(code.encode()).hexdigest()[:4], 16) % 5000)
        change = r.rng.gauss(0, 1.2)
        out.append(
            {
                "index": code,
                "name": name,
                "last": round(level * (1 + change / 100), 2),
                "prev_close": float(level),
                "change_pct": round(change, 2),
                "time": _stamp(r.date, 14_399),
            }
        )
    return out


def _members_of(code: str) -> list[_Security]:
    start = int(hashlib.sha256(code.encode()).hexdigest()[:2], 16) % len(UNIVERSE)
    return [UNIVERSE[(start + 5 * k) % len(UNIVERSE)] for k in range(30)]


def _index_constituents(r: Req) -> Any:
    code, name = _index_param(r)
    members = _members_of(code)[: r.limit(30, 30)]
    return {"index": code, "name": name, "constituents": [{"symbol": s.symbol, "name": s.name} for s in members]}


def _index_weights(r: Req) -> Any:
    code, _ = _index_param(r)
    members = _members_of(code)[: r.limit(30, 30)]
    raw = [r.rng.paretovariate(1.5) for _ in members]
    total = sum(raw)
    weights = [{"symbol": s.symbol, "weight_pct": round(100 * w / total, 4)} for s, w in zip(members, raw, strict=True)]
    return {"index": code, "date": r.date.isoformat(), "weights": sorted(weights, key=lambda x: -x["weight_pct"])}


def _index_methodology(r: Req) -> Any:
    code, name = _index_param(r)
    return {
        "index": code,
        "name": name,
        "base_date": "2014-12-31",
        "base_value": 1000,
        "universe": "A-shares listed for at least 6 months, excluding special treatment stocks",
        "selection": f"top {30 if code != 'JH300' else 300} by free-float market capitalisation and liquidity",
        "weighting": "free-float capitalisation, capped at 10 % per constituent",
        "rebalance": "semi-annual, second Friday of June and December",
        "version": f"v{r.rng.randrange(1, 5)}.{r.rng.randrange(0, 10)}",
    }


# -- research and factors ------------------------------------------------------------------------------------------


def _report(r: Req, symbol: str | None = None) -> dict[str, Any]:
    sec = _security(symbol) if symbol else r.pick(UNIVERSE)
    rating = r.pick(("buy", "outperform", "neutral", "underperform"))
    return {
        "id": f"rpt-{r.hexid(str(r.rng.random()), 10)}",
        "title": f"{sec.name}: {r.pick(_REPORT_TITLES)}",
        "symbol": sec.symbol,
        "industry": sec.industry,
        "analyst": r.person(),
        "rating": rating,
        "target_price": round(sec.base_price * r.rng.uniform(0.85, 1.45), 2),
        "date": (r.date - dt.timedelta(days=r.rng.randrange(0, 60))).isoformat(),
        "pages": r.rng.randrange(6, 60),
    }


def _report_list(r: Req) -> Any:
    symbol = r.symbol() if r.query.get("symbol") else None
    return sorted((_report(r, symbol) for _ in range(r.limit())), key=lambda x: x["date"], reverse=True)


def _report_document(r: Req) -> Any:
    doc = _report(r, r.symbol() if r.query.get("symbol") else None)
    doc["id"] = r.text("id", doc["id"])
    doc["abstract"] = f"We rate {doc['symbol']} {doc['rating']} with a target price of {doc['target_price']}."
    doc["sections"] = [
        {"heading": h, "paragraphs": [f"{h}: paragraph {i + 1} of the fictional analysis." for i in range(3)]}
        for h in ("Investment summary", "Earnings model", "Valuation", "Risks")
    ]
    return doc


def _report_search(r: Req) -> Any:
    query = r.b_text("query", "growth", 256)
    hits = [_report(r) for _ in range(int(r.b_number("limit", 10, 1, MAX_LIMIT)))]
    return {"query": query, "hits": hits}


def _forecasts(r: Req) -> Any:
    sec = _security(r.symbol())
    revenue, eps, years = r.num(2, 400, 2), r.num(0.1, 6, 3), []
    for year in range(r.date.year, r.date.year + 3):
        revenue, eps = round(revenue * r.rng.uniform(1.0, 1.25), 2), round(eps * r.rng.uniform(0.95, 1.3), 3)
        years.append(
            {
                "fiscal_year": year,
                "revenue_bn": revenue,
                "eps": eps,
                "eps_high": round(eps * 1.15, 3),
                "eps_low": round(eps * 0.85, 3),
                "analysts": r.rng.randrange(3, 25),
            }
        )
    return {"symbol": sec.symbol, "name": sec.name, "currency": "CNY", "forecasts": years}


def _factor_param(r: Req) -> str:
    return r.choice("factor", _FACTORS[0][0], tuple(f[0] for f in _FACTORS))


def _factor_catalog(r: Req) -> Any:
    return [
        {"id": f, "category": c, "description": d, "frequency": "daily", "since": "2010-01-04"} for f, c, d in _FACTORS
    ]


def _factor_values(r: Req) -> Any:
    factor = _factor_param(r)
    rows = []
    for s in UNIVERSE[: r.limit(48, len(UNIVERSE))]:
        z = round(r.rng.gauss(0, 1), 4)
        rows.append({"symbol": s.symbol, "raw": round(z * r.rng.uniform(0.5, 2), 4), "zscore": z})
    return {"factor": factor, "date": r.date.isoformat(), "values": rows}


def _factor_returns(r: Req) -> Any:
    factor = _factor_param(r)
    days = r.days_back(r.limit(60, MAX_LIMIT))[::-1]
    return {
        "factor": factor,
        "returns": [{"date": d.isoformat(), "return_pct": round(r.rng.gauss(0.02, 0.4), 4)} for d in days],
    }


def _factor_ic(r: Req) -> Any:
    factor = _factor_param(r)
    ic = r.num(-0.02, 0.08, 4)
    return {
        "factor": factor,
        "ic_mean": ic,
        "ic_std": r.num(0.05, 0.15, 4),
        "ic_ir": round(ic / 0.1, 3),
        "t_stat": round(ic * 40, 2),
        "decay": [{"horizon_days": h, "ic": round(ic * math.exp(-h / 15), 4)} for h in (1, 5, 10, 20, 60)],
    }


# -- strategies and risk -------------------------------------------------------------------------------------------


def _strategy_param(r: Req) -> tuple[str, str, str]:
    ident = r.choice("strategy", _STRATEGIES[0][0], tuple(s[0] for s in _STRATEGIES))
    return next(s for s in _STRATEGIES if s[0] == ident)


def _strategy_list(r: Req) -> Any:
    return [
        {
            "id": i,
            "name": n,
            "type": t,
            "capacity_mn": r.rng.randrange(200, 20_000),
            "sharpe": r.num(0.4, 2.5),
            "inception": f"{2015 + k}-01-04",
        }
        for k, (i, n, t) in enumerate(_STRATEGIES)
    ]


def _signals(r: Req) -> Any:
    ident, _, _ = _strategy_param(r)
    out = []
    for s in UNIVERSE[: r.limit(20, len(UNIVERSE))]:
        strength = round(r.rng.gauss(0, 1), 3)
        action = "buy" if strength > 0.5 else "sell" if strength < -0.5 else "hold"
        out.append(
            {
                "symbol": s.symbol,
                "action": action,
                "strength": strength,
                "target_weight_pct": round(max(0.0, 2 + strength), 3),
            }
        )
    return {"strategy": ident, "date": r.date.isoformat(), "signals": out}


def _performance(r: Req) -> Any:
    ident, name, _ = _strategy_param(r)
    months: list[dict[str, Any]] = []
    returns: list[float] = []
    for k in range(12):
        m = r.date.year * 12 + r.date.month - 1 - (11 - k)
        returns.append(round(r.rng.gauss(0.8, 3), 2))
        months.append({"month": f"{m // 12}-{m % 12 + 1:02d}", "return_pct": returns[-1]})
    annual = round(sum(returns), 2)
    vol = r.num(6, 22)
    return {
        "strategy": ident,
        "name": name,
        "annual_return_pct": annual,
        "volatility_pct": vol,
        "sharpe": round(annual / vol, 2),
        "max_drawdown_pct": r.num(-25, -3),
        "monthly": months,
    }


def _rebalance(r: Req) -> Any:
    current = r.portfolio()
    capital = r.b_number("capital", 10_000_000, 0, 1e13)
    targets = {s.symbol: round(r.rng.uniform(0, 0.3), 4) for s in r.rng.sample(UNIVERSE, 5)}
    total = sum(targets.values()) or 1
    targets = {k: round(v / total, 4) for k, v in targets.items()}
    trades = []
    for symbol in sorted(set(current) | set(targets)):
        delta = targets.get(symbol, 0.0) - current.get(symbol, 0.0)
        if abs(delta) > 1e-9:
            price = _security(symbol).base_price
            trades.append(
                {
                    "symbol": symbol,
                    "side": "buy" if delta > 0 else "sell",
                    "weight_change": round(delta, 4),
                    "shares": int(abs(delta) * capital / price // 100 * 100),
                }
            )
    return {
        "strategy": r.b_text("strategy", _STRATEGIES[0][0], 64),
        "targets": targets,
        "trades": trades,
        "estimated_cost_bp": r.num(2, 15),
    }


def _exposure(r: Req) -> Any:
    portfolio = r.portfolio()
    style = {f: 0.0 for f in _STYLE_FACTORS}
    industries: dict[str, float] = {}
    for symbol, weight in portfolio.items():
        h = hashlib.sha256(symbol.encode()).digest()
        for k, f in enumerate(_STYLE_FACTORS):
            style[f] += weight * ((h[k] - 128) / 64)
        industry = _security(symbol).industry
        industries[industry] = industries.get(industry, 0.0) + weight
    return {
        "model": "jinghua-cne-demo/v2",
        "style": {k: round(v, 4) for k, v in style.items()},
        "industry": {k: round(v, 4) for k, v in sorted(industries.items())},
        "specific_risk_pct": r.num(2, 12),
    }


def _covariance(r: Req) -> Any:
    n = len(_STYLE_FACTORS)
    a = [[r.rng.gauss(0, 0.1) for _ in range(n)] for _ in range(n)]
    cov = [
        [round(sum(a[i][k] * a[j][k] for k in range(n)) + (0.01 if i == j else 0), 6) for j in range(n)]
        for i in range(n)
    ]
    return {
        "model": "jinghua-cne-demo/v2",
        "date": r.date.isoformat(),
        "horizon": "monthly",
        "factors": list(_STYLE_FACTORS),
        "matrix": cov,
    }


def _var(r: Req) -> Any:
    portfolio = r.portfolio()
    confidence = r.b_number("confidence", 0.99, 0.5, 0.9999)
    horizon = r.b_number("horizon_days", 1, 1, 250)
    value = r.b_number("value", 100_000_000, 0, 1e13)
    sigma = 0.012 * math.sqrt(horizon) * (1 + 0.5 * r.rng.random())
    z = _normal_quantile(confidence)
    var = value * sigma * z
    return {
        "confidence": confidence,
        "horizon_days": horizon,
        "method": "parametric",
        "var": round(var, 2),
        "expected_shortfall": round(
            value * sigma * math.exp(-z * z / 2) / (math.sqrt(2 * math.pi) * (1 - confidence)), 2
        ),
        "components": {
            s: round(var * abs(w) / (sum(abs(x) for x in portfolio.values()) or 1), 2)
            for s, w in sorted(portfolio.items())
        },
    }


def _stress(r: Req) -> Any:
    portfolio = r.portfolio()
    value = r.b_number("value", 100_000_000, 0, 1e13)
    wanted = r.b_strings("scenarios", len(_SCENARIOS), 64)
    known = {s[0]: s for s in _SCENARIOS}
    for w in wanted:
        if w not in known:
            raise BadRequestError(f"body.scenarios: unknown {w!r}; use {', '.join(known)}")
    chosen = [known[w] for w in wanted] or list(_SCENARIOS)
    gross = sum(abs(w) for w in portfolio.values())
    return [
        {
            "scenario": i,
            "description": d,
            "pnl": round(value * gross * shock * r.rng.uniform(0.7, 1.3), 2),
            "pnl_pct": round(100 * gross * shock, 2),
        }
        for i, d, shock in chosen
    ]


def _normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF (bisection on erf: exact enough for a demo)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# -- AI models and backtests ---------------------------------------------------------------------------------------


def _texts(r: Req) -> list[str]:
    texts = r.b_strings("texts", 50, 16_384)
    text = r.b_text("text", "", 16_384)
    if text:
        texts = [text, *texts]
    return texts or ["Huaxin Steel reports record quarterly profit and announces share buyback."]


def _sentiment(r: Req) -> Any:
    out = []
    for text in _texts(r):
        lower = text.lower()
        pos = sum(lower.count(w) for w in _POSITIVE)
        neg = sum(lower.count(w) for w in _NEGATIVE)
        jitter = (hashlib.sha256(text.encode()).digest()[0] - 128) / 1280
        score = max(-1.0, min(1.0, (pos - neg) / (pos + neg + 1) + jitter))
        label = "positive" if score > 0.15 else "negative" if score < -0.15 else "neutral"
        out.append(
            {
                "score": round(score, 4),
                "label": label,
                "confidence": round(0.55 + abs(score) * 0.4, 4),
                "chars": len(text),
            }
        )
    return {"model": "shuzhi-finbert-demo/v4", "results": out}


_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:\s?(?:%|million|billion|bn|mn|yuan|CNY))?")


def _entities(r: Req) -> Any:
    out = []
    for text in _texts(r):
        found: list[dict[str, Any]] = []
        for s in UNIVERSE:
            for needle, kind in ((s.name, "company"), (s.symbol, "security")):
                at = text.find(needle)
                if at >= 0:
                    found.append(
                        {"text": needle, "type": kind, "start": at, "end": at + len(needle), "symbol": s.symbol}
                    )
        for m in _NUMBER.finditer(text):
            if any(e["start"] < m.end() and m.start() < e["end"] for e in found):
                continue  # part of a security code or name already found
            found.append({"text": m.group(0), "type": "amount", "start": m.start(), "end": m.end()})
            if len(found) >= 100:
                break
        out.append(sorted(found, key=lambda e: (e["start"], e["end"])))
    return {"model": "shuzhi-ner-demo/v2", "results": out}


def _earnings_forecast(r: Req) -> Any:
    sec = _security(r.symbol())
    quarters = int(r.b_number("quarters", 4, 1, 12))
    q0 = r.date.year * 4 + (r.date.month - 1) // 3
    eps = r.num(0.05, 1.5, 3)
    out = []
    for k in range(1, quarters + 1):
        q = q0 + k
        eps = round(eps * r.rng.uniform(0.9, 1.2), 3)
        out.append(
            {
                "quarter": f"{q // 4}Q{q % 4 + 1}",
                "eps": eps,
                "interval_80": [round(eps * 0.85, 3), round(eps * 1.15, 3)],
                "surprise_probability": r.num(0.2, 0.8, 3),
            }
        )
    return {"symbol": sec.symbol, "model": "shuzhi-earnings-gbm/v7", "forecasts": out}


def _summarize(r: Req) -> Any:
    text = r.b_text("text", "", 60_000)
    report_id = r.b_text("report_id", "", 64)
    n = int(r.b_number("max_sentences", 3, 1, 20))
    sentences = [s.strip() for s in re.split(r"(?<=[.!?。])\s*", text) if s.strip()]
    if not sentences:
        sentences = [
            f"The report {report_id or 'given'} discusses {r.pick(_NEWS_TOPICS)}.",
            f"Margins are expected to {r.pick(('improve', 'stabilise', 'decline'))} next year.",
            "The main risks are demand, input costs and policy.",
        ]
    ranked = sorted(range(len(sentences)), key=lambda i: (-len(sentences[i]), i))[:n]
    return {
        "model": "shuzhi-research-llm-demo/v1",
        "report_id": report_id or None,
        "summary": [sentences[i] for i in sorted(ranked)],
        "input_chars": len(text),
    }


_JOB_STATES = ("queued", "running", "finished")


def _job_id(r: Req) -> str:
    return r.text("job_id", "bt-000000000000")


def _job_state(job_id: str) -> tuple[str, int]:
    h = hashlib.sha256(job_id.encode()).digest()
    state = _JOB_STATES[h[0] % 3]
    return state, {"queued": 0, "running": 5 + h[1] % 90, "finished": 100}[state]


def _backtest_submit(r: Req) -> Any:
    strategy = r.b_text("strategy", _STRATEGIES[0][0], 64)
    start = r.b_text("start", "2020-01-01", 10)
    end = r.b_text("end", DEFAULT_DATE.isoformat(), 10)
    for name, value in (("start", start), ("end", end)):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise BadRequestError(f"body.{name}: {value!r} is not a date YYYY-MM-DD") from None
    if start > end:
        raise BadRequestError("body.start must not be after body.end")
    return {
        "job_id": f"bt-{r.hexid('job', 12)}",
        "status": "queued",
        "strategy": strategy,
        "start": start,
        "end": end,
        "capital": r.b_number("capital", 10_000_000, 1, 1e13),
        "estimated_seconds": r.rng.randrange(20, 600),
    }


def _backtest_status(r: Req) -> Any:
    job_id = _job_id(r)
    state, progress = _job_state(job_id)
    return {"job_id": job_id, "status": state, "progress_pct": progress}


def _backtest_result(r: Req) -> Any:
    job_id = _job_id(r)
    state, progress = _job_state(job_id)
    if state != "finished":
        return {"job_id": job_id, "status": state, "progress_pct": progress, "result": None}
    equity, curve = 1.0, []
    for d in r.days_back(r.limit(120, MAX_LIMIT))[::-1]:
        equity = round(equity * (1 + r.rng.gauss(0.0005, 0.01)), 6)
        curve.append({"date": d.isoformat(), "equity": equity})
    return {
        "job_id": job_id,
        "status": state,
        "progress_pct": 100,
        "result": {
            "total_return_pct": round((equity - 1) * 100, 2),
            "sharpe": r.num(-0.5, 2.5),
            "max_drawdown_pct": r.num(-30, -2),
            "turnover": r.num(1, 20),
            "equity_curve": curve,
        },
    }


def _backtest_cancel(r: Req) -> Any:
    job_id = _job_id(r)
    state, _ = _job_state(job_id)
    return {"job_id": job_id, "status": "cancelled" if state != "finished" else "finished", "previous": state}


# -- ESG, bonds, credit --------------------------------------------------------------------------------------------


def _per_symbol(r: Req, default: int = 10) -> list[_Security]:
    if r.query.get("symbol"):
        return [_security(r.symbol())]
    return list(UNIVERSE[: r.limit(default, len(UNIVERSE))])


def _esg_ratings(r: Req) -> Any:
    return [
        {
            "symbol": s.symbol,
            "name": s.name,
            "rating": r.pick(_ESG_GRADES),
            "score": r.num(20, 90, 1),
            "outlook": r.pick(("positive", "stable", "negative")),
            "date": r.date.isoformat(),
        }
        for s in _per_symbol(r)
    ]


def _esg_scores(r: Req) -> Any:
    return [
        {
            "symbol": s.symbol,
            "environmental": r.num(10, 95, 1),
            "social": r.num(10, 95, 1),
            "governance": r.num(10, 95, 1),
            "issues": {k: r.num(0, 10, 1) for k in ("carbon", "water", "labour", "privacy", "board", "ethics")},
        }
        for s in _per_symbol(r)
    ]


def _controversies(r: Req) -> Any:
    out = []
    for s in _per_symbol(r, 5):
        for _ in range(r.rng.randrange(0, 3)):
            out.append(
                {
                    "symbol": s.symbol,
                    "date": (r.date - dt.timedelta(days=r.rng.randrange(400))).isoformat(),
                    "category": r.pick(("environment", "product-safety", "labour", "governance")),
                    "severity": r.pick(("low", "moderate", "high")),
                    "summary": f"{s.name} {r.pick(_CONTROVERSIES)}",
                }
            )
    return out


def _carbon(r: Req) -> Any:
    out = []
    for s in _per_symbol(r, 5):
        scope1 = r.num(1e4, 5e6, 0)
        years = [
            {
                "year": y,
                "scope1_t": round(scope1 * (1 - 0.03 * (r.date.year - 1 - y)), 0),
                "scope2_t": round(scope1 * 0.4, 0),
                "intensity_t_per_mn": r.num(5, 400, 1),
                "reported": y < r.date.year - 1 or r.rng.random() < 0.5,
            }
            for y in range(r.date.year - 3, r.date.year)
        ]
        out.append({"symbol": s.symbol, "name": s.name, "years": years})
    return out


def _bond(k: int) -> tuple[str, str, float, float]:
    issuer = UNIVERSE[(k * 7) % len(UNIVERSE)]
    coupon = round(2.0 + (k * 37 % 300) / 100, 2)
    years = 1 + (k * 13) % 10 + 0.5 * (k % 2)
    return f"{102_000 + k * 17}.IB", f"{issuer.name} {coupon:.2f}% {int(2025 + years)} MTN", coupon, years


def _bond_param(r: Req) -> list[int]:
    code = r.query.get("bond")
    if code:
        for k in range(200):
            if _bond(k)[0] == code:
                return [k]
        raise BadRequestError(f"bond: unknown bond {code[:40]!r} (the demo's codes are like {_bond(0)[0]})")
    return list(range(r.limit(10, 200)))


def _price_bond(coupon: float, years: float, ytm: float) -> tuple[float, float, float]:
    """Clean price per 100, modified duration and convexity of an annual-coupon bond."""
    n = max(1, math.ceil(years))
    first = years - (n - 1)
    flows = [(first + i, coupon + (100 if i == n - 1 else 0)) for i in range(n)]
    y = ytm / 100
    pv = [(t, c / (1 + y) ** t) for t, c in flows]
    price = sum(v for _, v in pv)
    mac = sum(t * v for t, v in pv) / price
    convexity = sum(t * (t + 1) * v for t, v in pv) / (price * (1 + y) ** 2)
    return price, mac / (1 + y), convexity


def _valuations(r: Req) -> Any:
    out = []
    for k in _bond_param(r):
        code, name, coupon, years = _bond(k)
        ytm = round(coupon + r.rng.gauss(0, 0.3), 4)
        price, duration, convexity = _price_bond(coupon, years, ytm)
        out.append(
            {
                "bond": code,
                "name": name,
                "coupon_pct": coupon,
                "remaining_years": years,
                "ytm_pct": ytm,
                "clean_price": round(price, 4),
                "modified_duration": round(duration, 4),
                "convexity": round(convexity, 4),
                "valuation_date": r.date.isoformat(),
            }
        )
    return out


def _yield_curves(r: Req) -> Any:
    curve = r.choice("curve", "treasury", tuple(c[0] for c in _CURVES))
    _, base, spread = next(c for c in _CURVES if c[0] == curve)
    points = []
    for t in _TENORS:
        y = base + spread + 0.9 * (1 - math.exp(-t / 6)) + r.rng.gauss(0, 0.02)
        points.append({"tenor_years": t, "yield_pct": round(y, 4)})
    return {"curve": curve, "date": r.date.isoformat(), "points": points}


def _bond_quotes(r: Req) -> Any:
    out = []
    for k in _bond_param(r):
        code, name, coupon, _ = _bond(k)
        mid = round(coupon + r.rng.gauss(0, 0.3), 4)
        out.append(
            {
                "bond": code,
                "name": name,
                "dealer": r.pick(("Yongding Securities", "Jinghua Securities")),
                "bid_yield_pct": round(mid + 0.02, 4),
                "ask_yield_pct": round(mid - 0.02, 4),
                "size_mn": r.rng.randrange(10, 500, 10),
                "time": _stamp(r.date, r.rng.randrange(14_400)),
            }
        )
    return out


def _bond_analytics(r: Req) -> Any:
    bonds = r.b_list("bonds", 200) or [{"coupon_pct": 3.0, "years": 5, "ytm_pct": 2.5}]
    out = []
    for i, b in enumerate(bonds):
        if not isinstance(b, dict):
            raise BadRequestError(f"body.bonds[{i}]: expected an object with coupon_pct, years and ytm_pct")
        values = []
        for key, lo, hi in (("coupon_pct", 0, 30), ("years", 0.01, 100), ("ytm_pct", -5, 50)):
            v = b.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
                raise BadRequestError(f"body.bonds[{i}].{key}: expected a number in {lo}..{hi}")
            values.append(float(v))
        price, duration, convexity = _price_bond(*values)
        out.append(
            {
                "input": b,
                "clean_price": round(price, 4),
                "modified_duration": round(duration, 4),
                "convexity": round(convexity, 4),
                "dv01": round(price * duration / 10_000, 6),
            }
        )
    return out


def _issuers(r: Req) -> list[_Security]:
    return _per_symbol(r, 10)


def _issuer_ratings(r: Req) -> Any:
    return [
        {
            "issuer": s.name,
            "symbol": s.symbol,
            "rating": r.pick(_RATINGS[:7]),
            "outlook": r.pick(("stable", "positive", "negative")),
            "agency": r.pick(_AGENCIES),
            "date": (r.date - dt.timedelta(days=r.rng.randrange(365))).isoformat(),
        }
        for s in _issuers(r)
    ]


def _bond_ratings(r: Req) -> Any:
    return [
        {"bond": code, "name": name, "rating": r.pick(_RATINGS[:7]), "agency": r.pick(_AGENCIES)}
        for code, name, _, _ in (_bond(k) for k in _bond_param(r))
    ]


def _rating_changes(r: Req) -> Any:
    out = []
    for _ in range(r.limit(10)):
        s = r.pick(UNIVERSE)
        i = r.rng.randrange(1, len(_RATINGS) - 1)
        up = r.rng.random() < 0.5
        out.append(
            {
                "issuer": s.name,
                "from": _RATINGS[i],
                "to": _RATINGS[i - 1 if up else i + 1],
                "direction": "upgrade" if up else "downgrade",
                "agency": r.pick(_AGENCIES),
                "date": (r.date - dt.timedelta(days=r.rng.randrange(180))).isoformat(),
            }
        )
    return sorted(out, key=lambda x: x["date"], reverse=True)


def _default_probability(r: Req) -> Any:
    issuers = r.b_strings("issuers", 200, 128) or [s.name for s in UNIVERSE[:3]]
    out = []
    for name in issuers:
        h = hashlib.sha256(name.encode()).digest()
        pd = round(0.0002 * math.exp(h[0] / 40), 6)
        implied = _RATINGS[min(len(_RATINGS) - 1, int(math.log10(pd / 0.0002) * 4))]
        out.append({"issuer": name, "pd_1y": min(pd, 0.5), "implied_rating": implied, "model": "yongding-merton/v3"})
    return out


# -- compliance, funds, OTC, counterparties ------------------------------------------------------------------------


def _screen(r: Req) -> Any:
    names = r.b_strings("names", 500, 256) or ["Example Trading Ltd."]
    out = []
    for name in names:
        h = hashlib.sha256(name.lower().encode()).digest()
        hit = h[0] < 26  # about one name in ten is on a fictional list
        out.append(
            {
                "name": name,
                "match": hit,
                "score": round(0.6 + h[1] / 640, 4) if hit else round(h[1] / 600, 4),
                "lists": [r.pick(("sanctions-demo", "insider-demo", "restricted-demo"))] if hit else [],
            }
        )
    return {"screened": len(out), "matches": sum(1 for x in out if x["match"]), "results": out}


def _watchlist_update(r: Req) -> Any:
    add = r.b_strings("add", 1000, 256)
    remove = r.b_strings("remove", 1000, 256)
    name = r.b_text("list", "restricted-demo", 64)
    return {
        "list": name,
        "version": int.from_bytes(r.seed[:3], "big"),
        "added": len(add),
        "removed": len(remove),
        "status": "applied",
    }


def _insiders(r: Req) -> Any:
    sec = _security(r.symbol())
    return {
        "symbol": sec.symbol,
        "insiders": [
            {
                "name": r.person(),
                "role": r.pick(("director", "supervisor", "executive", "advisor", "major-shareholder")),
                "since": (r.date - dt.timedelta(days=r.rng.randrange(30, 2000))).isoformat(),
            }
            for _ in range(r.limit(8))
        ],
    }


def _restricted(r: Req) -> Any:
    chosen = r.rng.sample(UNIVERSE, min(len(UNIVERSE), r.limit(6, len(UNIVERSE))))
    return [
        {
            "symbol": s.symbol,
            "name": s.name,
            "reason": r.pick(("pending-deal", "research-blackout", "insider-window")),
            "until": (r.date + dt.timedelta(days=r.rng.randrange(5, 120))).isoformat(),
        }
        for s in chosen
    ]


def _fund_param(r: Req) -> list[tuple[str, str, str]]:
    code = r.query.get("fund")
    if code:
        for f in _FUNDS:
            if f[0] == code:
                return [f]
        funds = ", ".join(f[0] for f in _FUNDS)
        raise BadRequestError(f"fund: unknown fund {code[:20]!r}; the demo's funds are {funds}")
    return list(_FUNDS)


def _fund_nav(r: Req) -> Any:
    out = []
    for code, name, kind in _fund_param(r):
        nav, history = 1.0 + (int(hashlib.sha256(code.encode()).hexdigest()[:3], 16) % 2000) / 1000, []
        for d in r.days_back(r.limit(20, MAX_LIMIT))[::-1]:
            nav = round(nav * (1 + r.rng.gauss(0.0002, 0.001 if kind in ("bond", "money-market") else 0.012)), 4)
            history.append({"date": d.isoformat(), "nav": nav, "accumulated_nav": round(nav + 0.35, 4)})
        out.append({"fund": code, "name": name, "type": kind, "history": history})
    return out


def _fund_holdings(r: Req) -> Any:
    out = []
    for code, name, kind in _fund_param(r):
        chosen = r.rng.sample(UNIVERSE, 10) if kind not in ("bond", "money-market") else []
        raw = [r.rng.random() for _ in chosen]
        total = sum(raw) / 0.6 if raw else 1
        out.append(
            {
                "fund": code,
                "name": name,
                "report_period": f"{r.date.year}Q{(r.date.month - 1) // 3 + 1}",
                "holdings": [
                    {"symbol": s.symbol, "name": s.name, "weight_pct": round(100 * w / total, 2)}
                    for s, w in zip(chosen, raw, strict=True)
                ],
            }
        )
    return out


def _fund_managers(r: Req) -> Any:
    return [
        {
            "fund": code,
            "name": name,
            "managers": [
                {
                    "name": r.person(),
                    "since": f"{2012 + r.rng.randrange(12)}-0{1 + r.rng.randrange(9)}-01",
                    "tenure_return_pct": r.num(-20, 180),
                }
                for _ in range(r.rng.randrange(1, 3))
            ],
        }
        for code, name, _ in _fund_param(r)
    ]


def _fund_performance(r: Req) -> Any:
    return [
        {
            "fund": code,
            "name": name,
            **{f"return_{p}_pct": r.num(-15, 30) for p in ("1m", "3m", "6m", "1y", "3y")},
            "rank_in_peers": f"{r.rng.randrange(1, 400)}/{400 + r.rng.randrange(800)}",
        }
        for code, name, _ in _fund_param(r)
    ]


def _otc_quotes(r: Req) -> Any:
    sec = _security(r.symbol())
    out = []
    for expiry_m in (1, 3, 6):
        for moneyness in (0.9, 1.0, 1.1):
            vol = r.num(18, 45)
            out.append(
                {
                    "underlying": sec.symbol,
                    "type": "call" if moneyness >= 1 else "put",
                    "strike": round(sec.base_price * moneyness, 2),
                    "expiry_months": expiry_m,
                    "bid_vol_pct": vol,
                    "ask_vol_pct": round(vol + r.num(0.5, 3), 2),
                    "dealer": "Tonghui Securities",
                }
            )
    return out


def _option_inputs(r: Req) -> tuple[str, float, float, float, float, float]:
    kind = r.b_text("type", "call", 8)
    if kind not in ("call", "put"):
        raise BadRequestError("body.type: 'call' or 'put'")
    spot = r.b_number("spot", 100, 0.0001, 1e7)
    strike = r.b_number("strike", 100, 0.0001, 1e7)
    vol = r.b_number("vol", 0.25, 0.0001, 5)
    rate = r.b_number("rate", 0.02, -0.1, 0.5)
    years = r.b_number("maturity_years", 0.5, 0.0001, 50)
    return kind, spot, strike, vol, rate, years


def _black_scholes(kind: str, s: float, k: float, v: float, r: float, t: float) -> dict[str, float]:
    sq = v * math.sqrt(t)
    d1 = (math.log(s / k) + (r + v * v / 2) * t) / sq
    d2 = d1 - sq

    def cdf(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    pdf = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    disc = math.exp(-r * t)
    if kind == "call":
        price, delta = s * cdf(d1) - k * disc * cdf(d2), cdf(d1)
        theta = -s * pdf * v / (2 * math.sqrt(t)) - r * k * disc * cdf(d2)
        rho = k * t * disc * cdf(d2)
    else:
        price, delta = k * disc * cdf(-d2) - s * cdf(-d1), cdf(d1) - 1
        theta = -s * pdf * v / (2 * math.sqrt(t)) + r * k * disc * cdf(-d2)
        rho = -k * t * disc * cdf(-d2)
    return {
        "price": price,
        "delta": delta,
        "gamma": pdf / (s * sq),
        "vega": s * pdf * math.sqrt(t) / 100,
        "theta": theta / 365,
        "rho": rho / 100,
    }


def _otc_pricing(r: Req) -> Any:
    kind, s, k, v, rate, t = _option_inputs(r)
    g = _black_scholes(kind, s, k, v, rate, t)
    return {
        "model": "black-scholes",
        "type": kind,
        "price": round(g["price"], 6),
        "inputs": {"spot": s, "strike": k, "vol": v, "rate": rate, "maturity_years": t},
    }


def _otc_greeks(r: Req) -> Any:
    kind, s, k, v, rate, t = _option_inputs(r)
    return {
        "model": "black-scholes",
        "type": kind,
        **{n: round(x, 8) for n, x in _black_scholes(kind, s, k, v, rate, t).items()},
    }


def _term_sheets(r: Req) -> Any:
    sec = _security(r.symbol())
    ident = r.text("id", f"ts-{r.hexid('ts', 8)}")
    return {
        "id": ident,
        "product": r.pick(("snowball autocallable", "vanilla call", "total return swap", "shark fin")),
        "underlying": sec.symbol,
        "notional_mn": r.rng.randrange(5, 200),
        "tenor_months": r.pick((3, 6, 12, 24)),
        "knock_in_pct": r.pick((70, 75, 80)),
        "knock_out_pct": r.pick((100, 103, 105)),
        "coupon_pa_pct": r.num(3, 18),
        "observation": "monthly",
        "settlement": "cash",
    }


def _counterparty_param(r: Req) -> list[tuple[str, str, str]]:
    ident = r.query.get("counterparty")
    if ident:
        found = [c for c in _COUNTERPARTIES if c[0] == ident]
        if not found:
            raise BadRequestError(
                f"counterparty: unknown {ident[:20]!r}; the demo's are {', '.join(c[0] for c in _COUNTERPARTIES)}"
            )
        return found
    return list(_COUNTERPARTIES)


def _profiles(r: Req) -> Any:
    return [
        {
            "id": i,
            "name": n,
            "type": t,
            "rating": r.pick(_RATINGS[:7]),
            "country": "CN",
            "relationship_since": f"{2008 + r.rng.randrange(15)}-01-01",
        }
        for i, n, t in _counterparty_param(r)
    ]


def _limits(r: Req) -> Any:
    out = []
    for i, n, _ in _counterparty_param(r):
        limit = r.rng.randrange(50, 2000) * 1_000_000
        used = round(limit * r.rng.uniform(0.05, 0.98), 2)
        out.append(
            {
                "id": i,
                "name": n,
                "limit": limit,
                "used": used,
                "utilisation_pct": round(100 * used / limit, 2),
                "currency": "CNY",
            }
        )
    return out


def _limit_update(r: Req) -> Any:
    ident = r.b_text("counterparty", _COUNTERPARTIES[0][0], 32)
    if ident not in {c[0] for c in _COUNTERPARTIES}:
        raise BadRequestError(f"body.counterparty: unknown {ident!r}")
    limit = r.b_number("limit", 100_000_000, 0, 1e13)
    return {
        "id": ident,
        "limit": limit,
        "currency": "CNY",
        "version": int.from_bytes(r.seed[:2], "big"),
        "status": "pending-approval" if limit > 1e9 else "applied",
    }


def _margin_calls(r: Req) -> Any:
    out = []
    for k in range(r.limit(8)):
        i, n, _ = r.pick(_COUNTERPARTIES)
        out.append(
            {
                "id": f"mc-{r.hexid(f'mc{k}', 8)}",
                "counterparty": i,
                "name": n,
                "amount": r.rng.randrange(1, 500) * 100_000,
                "currency": "CNY",
                "due": (r.date + dt.timedelta(days=r.rng.randrange(0, 3))).isoformat(),
                "status": r.pick(("open", "met", "disputed")),
            }
        )
    return out


# -- the table of APIs ---------------------------------------------------------------------------------------------

Generator = Callable[[Req], Any]
RowStream = Callable[[Req, int], Iterator[Any]]


@dataclass(frozen=True, slots=True)
class Streamed:
    """An API whose rows may be many: ``meta`` describes them, ``rows(req, n)`` yields ``n`` of them."""

    meta: Generator
    rows: RowStream
    default: int = 100


GENERATORS: Final[dict[str, Generator | Streamed]] = {
    "quotes-level1": _level1,
    "quotes-level2": _level2,
    "tick-trades": Streamed(_ticks_meta, _ticks),
    "kline-bars": Streamed(_bars_meta, _bars),
    "news-latest": _news_latest,
    "news-search": _news_search,
    "news-by-security": _news_by_security,
    "news-flash": _news_flash,
    "ann-list": _ann_list,
    "ann-document": _ann_document,
    "ann-search": _ann_search,
    "ann-subscribe": _ann_subscribe,
    "security-master": _securities,
    "trading-calendar": _calendar,
    "corporate-actions": _corporate_actions,
    "industry-classes": _industries,
    "macro-indicators": _macro_indicators,
    "macro-series": _macro_series,
    "macro-calendar": _macro_calendar,
    "macro-nowcast": _macro_nowcast,
    "industry-metrics": _industry_metrics,
    "industry-chain-map": _chain_map,
    "supply-chain-links": _supply_chain,
    "industry-prosperity": _prosperity,
    "index-quotes": _index_quotes,
    "index-constituents": _index_constituents,
    "index-weights": _index_weights,
    "index-methodology": _index_methodology,
    "report-list": _report_list,
    "report-document": _report_document,
    "report-search": _report_search,
    "analyst-forecasts": _forecasts,
    "factor-catalog": _factor_catalog,
    "factor-values": _factor_values,
    "factor-returns": _factor_returns,
    "factor-ic": _factor_ic,
    "strategy-list": _strategy_list,
    "strategy-signals": _signals,
    "strategy-performance": _performance,
    "strategy-rebalance": _rebalance,
    "risk-exposure": _exposure,
    "risk-covariance": _covariance,
    "value-at-risk": _var,
    "stress-test": _stress,
    "sentiment-score": _sentiment,
    "entity-extract": _entities,
    "earnings-forecast": _earnings_forecast,
    "report-summarize": _summarize,
    "backtest-submit": _backtest_submit,
    "backtest-status": _backtest_status,
    "backtest-result": _backtest_result,
    "backtest-cancel": _backtest_cancel,
    "esg-ratings": _esg_ratings,
    "esg-scores": _esg_scores,
    "esg-controversies": _controversies,
    "carbon-emissions": _carbon,
    "bond-valuations": _valuations,
    "yield-curves": _yield_curves,
    "bond-quotes": _bond_quotes,
    "bond-analytics": _bond_analytics,
    "issuer-ratings": _issuer_ratings,
    "bond-ratings": _bond_ratings,
    "rating-changes": _rating_changes,
    "default-probability": _default_probability,
    "watchlist-screen": _screen,
    "watchlist-update": _watchlist_update,
    "insider-lists": _insiders,
    "restricted-securities": _restricted,
    "fund-nav": _fund_nav,
    "fund-holdings": _fund_holdings,
    "fund-managers": _fund_managers,
    "fund-performance": _fund_performance,
    "otc-quotes": _otc_quotes,
    "otc-pricing": _otc_pricing,
    "otc-greeks": _otc_greeks,
    "otc-term-sheets": _term_sheets,
    "counterparty-profiles": _profiles,
    "exposure-limits": _limits,
    "exposure-update": _limit_update,
    "margin-calls": _margin_calls,
}


def _generic(r: Req) -> Any:
    """An API this module has no generator for (another catalogue): plausible records of its asset."""
    if r.api.method in ("POST", "PUT"):
        return {"accepted": True, "id": f"{r.api.id}-{r.hexid('id', 12)}", "fields": sorted(r.body)[:50]}
    if r.api.method == "DELETE":
        return {"deleted": True, "id": r.text("id", f"{r.api.id}-1")}
    return [
        {"id": f"{r.api.id}-{k + 1}", "symbol": s.symbol, "value": r.num(0, 1000), "date": r.date.isoformat()}
        for k, s in enumerate(r.rng.sample(UNIVERSE, min(len(UNIVERSE), r.limit(10, len(UNIVERSE)))))
    ]


# -- the application -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Endpoint:
    api: Api
    unit: str
    center: str
    generate: Generator | Streamed
    meta_head: str  # the JSON of the metadata's fixed fields, without braces


def _endpoints(catalogue: Catalogue, provider: str | None) -> dict[str, dict[str, _Endpoint]]:
    routes: dict[str, dict[str, _Endpoint]] = {}
    for center in catalogue.centers:
        for unit in center.units:
            for api in unit.apis:
                if provider is not None and api.provider != provider:
                    continue
                head = json.dumps(
                    {
                        "api": api.id,
                        "name": api.name,
                        "unit": unit.id,
                        "center": center.id,
                        "provider": api.provider,
                        "asset": api.asset,
                    },
                    ensure_ascii=False,
                    separators=(",", ":"),
                )[1:-1]
                generate = GENERATORS.get(api.id, _generic)
                routes.setdefault(api.route, {})[api.method] = _Endpoint(api, unit.id, center.id, generate, head)
    if not routes:
        providers = sorted({a.provider for a in catalogue.apis()})
        raise ValueError(f"provider {provider!r} serves no API of the catalogue; providers: {', '.join(providers)}")
    return routes


def _seed(method: str, path: str, query: Mapping[str, str], body: bytes) -> bytes:
    h = hashlib.sha256()
    h.update(f"{method}\n{path}\n".encode())
    for key, value in sorted(query.items()):
        h.update(f"{len(key)}:{key}={len(value)}:{value}&".encode())
    h.update(b"\n")
    h.update(body)
    return h.digest()


async def _read_body(request: web.Request) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise BadRequestError(f"the body is {length} bytes; at most {MAX_BODY_BYTES} are accepted")
    body = bytearray()
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadRequestError(f"the body is over {MAX_BODY_BYTES} bytes")


def _parse_body(method: str, raw: bytes) -> dict[str, Any]:
    if method not in ("POST", "PUT") or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequestError(f"the body must be a JSON object, not {type(value).__name__}")
    return value


class _Cache:
    """Answers of small requests, least recently used first out."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.items: OrderedDict[tuple[str, str, str, bytes, str | None], bytes] = OrderedDict()

    def get(self, key: tuple[str, str, str, bytes, str | None]) -> bytes | None:
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
        return found

    def put(self, key: tuple[str, str, str, bytes, str | None], value: bytes) -> None:
        self.items[key] = value
        if len(self.items) > self.entries:
            self.items.popitem(last=False)


def make_app(catalogue: Catalogue, *, provider: str | None = None) -> web.Application:
    """The demo upstream of ``provider``'s APIs (every API of the catalogue when None)."""
    routes = _endpoints(catalogue, provider)
    cache = _Cache(CACHE_ENTRIES)
    health = _json_bytes(
        {"status": "ok", "provider": provider, "apis": sum(len(m) for m in routes.values()), "routes": len(routes)}
    )
    json_headers = {"Content-Type": _JSON_TYPE}

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(body=health, headers=json_headers)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        methods = routes.get(request.path)
        if methods is None:
            return _error(404, "not_found", f"no API at {request.path[:200]}")
        endpoint = methods.get(request.method)
        if endpoint is None:
            allow = ", ".join(sorted(methods))
            return _error(405, "method_not_allowed", f"{request.path} answers {allow}", {"Allow": allow})
        caller = request.headers.get(CALLER_HEADER)
        if caller is not None:
            caller = caller[:64]
        try:
            raw = await _read_body(request) if request.body_exists else b""
            key = (request.method, request.path, request.query_string, raw, caller)
            if len(raw) <= 1024:
                cached = cache.get(key)
                if cached is not None:
                    return web.Response(body=cached, headers=json_headers)
            req = Req(
                endpoint.api,
                endpoint.unit,
                endpoint.center,
                request.query,
                _parse_body(request.method, raw),
                _seed(request.method, request.path, request.query, raw),
            )
            generate = endpoint.generate
            if isinstance(generate, Streamed):
                n = req.limit(generate.default, MAX_STREAM_LIMIT)
                meta = generate.meta(req)
                if n > STREAM_THRESHOLD:
                    return await _stream(request, endpoint, req, caller, meta, generate.rows(req, n), n)
                data: Any = {**meta, "rows": list(generate.rows(req, n))}
                count: int | None = n
            else:
                data = generate(req)
                count = len(data) if isinstance(data, list) else None
        except BadRequestError as exc:
            return _error(400, "bad_request", str(exc))
        body = _envelope(endpoint, req, caller, count) + _json_bytes(data) + b"}"
        if len(raw) <= 1024 and len(body) <= CACHE_MAX_BODY:
            cache.put(key, body)
        return web.Response(body=body, headers=json_headers)

    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _envelope(endpoint: _Endpoint, req: Req, caller: str | None, count: int | None) -> bytes:
    """``{"meta":{...},"data":`` up to the data itself."""
    extra: dict[str, Any] = {"caller_org": caller, "request_id": req.seed.hex()[:16], "as_of": req.date.isoformat()}
    if count is not None:
        extra["count"] = count
    return f'{{"meta":{{{endpoint.meta_head},{_json_bytes(extra).decode()[1:]},"data":'.encode()


async def _stream(
    request: web.Request,
    endpoint: _Endpoint,
    req: Req,
    caller: str | None,
    meta: dict[str, Any],
    rows: Iterator[Any],
    n: int,
) -> web.StreamResponse:
    """Write ``{"meta":...,"data":{...meta,"rows":[`` then the rows in batches, then ``]}}``, chunked."""
    response = web.StreamResponse(headers={"Content-Type": _JSON_TYPE})
    response.enable_chunked_encoding()
    await response.prepare(request)
    head = _envelope(endpoint, req, caller, n) + _json_bytes(meta)[:-1] + b',"rows":['
    await response.write(head)
    first = True
    while True:
        batch = [row for _, row in zip(range(STREAM_BATCH), rows, strict=False)]
        if not batch:
            break
        text = _json_bytes(batch)[1:-1]
        await response.write(text if first else b"," + text)
        first = False
    await response.write(b"]}}")
    await response.write_eof()
    return response


# -- running it ----------------------------------------------------------------------------------------------------


async def serve(catalogue: Catalogue, host: str, port: int, *, provider: str | None = None) -> None:
    """Serve the demo upstream on ``host:port`` until cancelled (``port`` 0: a free port, printed)."""
    runner = web.AppRunner(make_app(catalogue, provider=provider), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
        await site.start()
        for address in runner.addresses:
            if isinstance(address, tuple):
                print(f"demo services listening on http://{address[0]}:{address[1]}", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _load_catalogue(path: Path | None) -> Catalogue:
    from demo import demo_config_path

    config = load_config(path if path is not None else demo_config_path())
    if config.catalogue is None:
        raise SystemExit(f"{path}: the consortium file has no catalogue to serve")
    return config.catalogue


def main(argv: list[str] | None = None) -> None:
    """``python -m demo.services --port P [--host H] [--provider ORG] [--catalogue FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m demo.services",
        description="Serve the demo's fictional upstream services (every API of a catalogue) over HTTP.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on (0: a free one, printed)")
    parser.add_argument("--provider", default=None, help="serve only this org's APIs (default: all)")
    parser.add_argument(
        "--catalogue",
        type=Path,
        default=None,
        help="a consortium file whose catalogue to serve (default: the packaged demo consortium)",
    )
    args = parser.parse_args(argv)
    from chain.errors import MalformedError

    try:
        catalogue = _load_catalogue(args.catalogue)
        make_app(catalogue, provider=args.provider)  # fail early, before the loop starts
    except (MalformedError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve(catalogue, args.host, args.port, provider=args.provider))
