"""One request as the generators see it (:class:`Req`: its parameters checked, its body parsed, a random
source seeded from the request), the errors a request can raise (:class:`BadRequestError`, under
:class:`DemoError`), the JSON answers, and the shapes of a generator (:data:`Generator`, :class:`Streamed`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from demo.services.universe import GIVEN, SURNAMES, UNIVERSE, Security, is_trading_day, security
from network.config import Api

MAX_LIMIT: Final = 500
DEFAULT_DATE: Final = dt.date(2025, 6, 30)
JSON_TYPE: Final = "application/json; charset=utf-8"
_SYMBOL = re.compile(r"[A-Za-z0-9._-]{1,32}")
_TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class DemoError(Exception):
    """Root of the errors of :mod:`demo`."""


class BadRequestError(DemoError):
    """A parameter or body the service cannot use: answered 400 with this message as the detail."""


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_response(status: int, error: str, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    out = {"Content-Type": JSON_TYPE, **(headers or {})}
    return web.Response(status=status, body=json_bytes({"error": error, "detail": detail}), headers=out)


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
        return f"{self.pick(SURNAMES)} {self.pick(GIVEN)}"

    def days_back(self, n: int) -> list[dt.date]:
        """The ``n`` trading days up to ``date``, newest first."""
        out: list[dt.date] = []
        day = self.date
        while len(out) < n:
            if is_trading_day(day):
                out.append(day)
            day -= dt.timedelta(days=1)
        return out


def _bad_date(raw: str) -> dt.date:
    raise BadRequestError(f"date: {raw[:20]!r} is not a date YYYY-MM-DD")


def per_symbol(r: Req, default: int = 10) -> list[Security]:
    """The security of ``symbol`` when given, else the first ``limit`` of the universe (``default`` of them)."""
    if r.query.get("symbol"):
        return [security(r.symbol())]
    return list(UNIVERSE[: r.limit(default, len(UNIVERSE))])


# -- the shapes of a generator -------------------------------------------------------------------------------------

Generator = Callable[[Req], Any]
RowStream = Callable[[Req, int], Iterator[Any]]


@dataclass(frozen=True, slots=True)
class Streamed:
    """An API whose rows may be many: ``meta`` describes them, ``rows(req, n)`` yields ``n`` of them."""

    meta: Generator
    rows: RowStream
    default: int = 100
