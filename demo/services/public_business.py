"""The generators of the Public Business service center: market data, news, company announcements,
reference data, macro economy, industry data and index data."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any, Final

from demo.services.request import MAX_LIMIT, BadRequestError, Generator, Req, Streamed
from demo.services.universe import (
    ANN_CATEGORIES,
    INDICES,
    INDUSTRIES,
    MACRO,
    NEWS_TOPICS,
    SOURCES,
    UNIVERSE,
    Security,
    is_trading_day,
    security,
    stamp,
)

# -- market data ------------------------------------------------------------------------------------------------


def _quote(r: Req, symbol: str) -> dict[str, Any]:
    sec = security(symbol)
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
        "time": stamp(r.date, 4 * 3600 - 1),
    }


def _level1(r: Req) -> Any:
    return [_quote(r, s) for s in r.symbols()]


def _level2(r: Req) -> Any:
    sec = security(r.symbol())
    mid = round(sec.base_price * (1 + r.rng.uniform(-0.03, 0.03)), 2)
    book: dict[str, Any] = {"symbol": sec.symbol, "name": sec.name, "time": stamp(r.date, 3600), "last": mid}
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
    sec = security(r.symbol())
    price, rng, day = sec.base_price, r.rng, r.date
    step = max(1, 14_400 // max(n, 1))
    for i in range(n):
        price = max(0.01, round(price + rng.choice((-0.02, -0.01, 0.0, 0.0, 0.01, 0.02)), 2))
        t = (i * step) if n <= 14_400 else (i * 14_400 // n)
        yield [i + 1, stamp(day, t), price, rng.randrange(1, 300) * 100, "B" if rng.random() < 0.5 else "S"]


def _ticks_meta(r: Req) -> dict[str, Any]:
    sec = security(r.symbol())
    return {"symbol": sec.symbol, "name": sec.name, "columns": ["seq", "time", "price", "volume", "side"]}


_PERIODS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "60m": 3600, "1d": 86_400, "1w": 7 * 86_400}


def _bars(r: Req, n: int) -> Iterator[Any]:
    sec = security(r.symbol())
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
            when = stamp(day, (per_day - 1 - back % per_day) * seconds + seconds - 1)
        open_ = close
        close = max(0.01, round(open_ * (1 + rng.gauss(0, 0.01 if seconds < 86_400 else 0.02)), 2))
        high = round(max(open_, close) * (1 + rng.random() * 0.01), 2)
        low = round(min(open_, close) * (1 - rng.random() * 0.01), 2)
        volume = rng.randrange(100, 90_000 if seconds < 86_400 else 900_000) * 100
        yield [when, open_, high, low, close, volume, round(volume * close, 2)]


def _bars_meta(r: Req) -> dict[str, Any]:
    sec = security(r.symbol())
    return {
        "symbol": sec.symbol,
        "name": sec.name,
        "period": r.choice("period", "1d", tuple(_PERIODS)),
        "adjust": r.choice("adjust", "forward", ("none", "forward", "backward")),
        "columns": ["time", "open", "high", "low", "close", "volume", "turnover"],
    }


# -- news and announcements --------------------------------------------------------------------------------------


def _headline(r: Req, symbol: str | None = None) -> dict[str, Any]:
    sec = security(symbol) if symbol else r.pick(UNIVERSE)
    topic = r.pick(NEWS_TOPICS)
    return {
        "id": f"news-{r.hexid(str(r.rng.random()), 10)}",
        "time": stamp(r.date, r.rng.randrange(14_400)),
        "title": f"{sec.name} {topic}",
        "source": r.pick(SOURCES),
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
                "time": stamp(r.date, 14_399 - i * 37),
                "text": f"[{sec.symbol}] {sec.name}: {r.pick(NEWS_TOPICS)}",
                "importance": r.pick(("low", "normal", "high")),
            }
        )
    return out


def _announcement(r: Req, symbol: str | None = None) -> dict[str, Any]:
    sec = security(symbol) if symbol else r.pick(UNIVERSE)
    category = r.pick(ANN_CATEGORIES)
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
    if category and category not in ANN_CATEGORIES:
        raise BadRequestError(f"body.category: one of {', '.join(ANN_CATEGORIES)}")
    hits = [_announcement(r) for _ in range(int(r.b_number("limit", 10, 1, MAX_LIMIT)))]
    for hit in hits:
        hit["category"] = category or hit["category"]
    return {"query": query, "hits": hits}


def _ann_subscribe(r: Req) -> Any:
    symbols = r.b_strings("symbols", 200, 32) or [UNIVERSE[0].symbol]
    categories = r.b_strings("categories", 20, 64) or list(ANN_CATEGORIES)
    unknown = [c for c in categories if c not in ANN_CATEGORIES]
    if unknown:
        raise BadRequestError(f"body.categories: unknown {unknown[0]!r}; use {', '.join(ANN_CATEGORIES)}")
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
        chosen = [security(r.symbol())]
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
        days.append({"date": day.isoformat(), "trading": is_trading_day(day), "exchanges": ["SSE", "SZSE"]})
        day += dt.timedelta(days=1)
    return {"year": year, "month": month, "days": days}


def _corporate_actions(r: Req) -> Any:
    sec = security(r.symbol())
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
    for i, name in enumerate(INDUSTRIES):
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
    for row in MACRO:
        if row[0] == ident:
            return row
    raise BadRequestError(f"indicator: {ident!r} is not one of {', '.join(m[0] for m in MACRO)}")


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
        for ident, name, unit, freq, base, sd in MACRO
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
        ident, name, unit, _freq, base, sd = r.pick(MACRO)
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
        "contributions": {m[0]: r.num(-0.4, 0.6, 3) for m in MACRO[1:8]},
    }


def _industry_param(r: Req) -> str:
    return r.choice("industry", INDUSTRIES[0], INDUSTRIES)


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
    others = [i for i in INDUSTRIES if i != industry]
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
    sec = security(r.symbol())
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
    for industry in INDUSTRIES:
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
    code = r.choice("index", INDICES[1][0], tuple(i[0] for i in INDICES))
    return next(i for i in INDICES if i[0] == code)


def _index_quotes(r: Req) -> Any:
    out = []
    for code, name in INDICES:
        level = 1000 + (int(hashlib.sha256(code.encode()).hexdigest()[:4], 16) % 5000)
        change = r.rng.gauss(0, 1.2)
        out.append(
            {
                "index": code,
                "name": name,
                "last": round(level * (1 + change / 100), 2),
                "prev_close": float(level),
                "change_pct": round(change, 2),
                "time": stamp(r.date, 14_399),
            }
        )
    return out


def _members_of(code: str) -> list[Security]:
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


#: The generators of this center's APIs, by API id (the APIs of ``catalogue.toml``, unit by unit).
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
}
