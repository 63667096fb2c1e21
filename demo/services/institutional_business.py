"""The generators of the Institutional Business service center: bond pricing, credit ratings, compliance
screening, fund data, OTC derivatives and counterparty risk."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from typing import Any, Final

from demo.services.request import MAX_LIMIT, BadRequestError, Generator, Req, Streamed, per_symbol
from demo.services.universe import (
    AGENCIES,
    COUNTERPARTIES,
    CURVES,
    FUNDS,
    RATINGS,
    TENORS,
    UNIVERSE,
    Security,
    security,
    stamp,
)

# -- bonds and credit ----------------------------------------------------------------------------------------------


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
    curve = r.choice("curve", "treasury", tuple(c[0] for c in CURVES))
    _, base, spread = next(c for c in CURVES if c[0] == curve)
    points = []
    for t in TENORS:
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
                "time": stamp(r.date, r.rng.randrange(14_400)),
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


def _issuers(r: Req) -> list[Security]:
    return per_symbol(r, 10)


def _issuer_ratings(r: Req) -> Any:
    return [
        {
            "issuer": s.name,
            "symbol": s.symbol,
            "rating": r.pick(RATINGS[:7]),
            "outlook": r.pick(("stable", "positive", "negative")),
            "agency": r.pick(AGENCIES),
            "date": (r.date - dt.timedelta(days=r.rng.randrange(365))).isoformat(),
        }
        for s in _issuers(r)
    ]


def _bond_ratings(r: Req) -> Any:
    return [
        {"bond": code, "name": name, "rating": r.pick(RATINGS[:7]), "agency": r.pick(AGENCIES)}
        for code, name, _, _ in (_bond(k) for k in _bond_param(r))
    ]


def _rating_changes(r: Req) -> Any:
    out = []
    for _ in range(r.limit(10)):
        s = r.pick(UNIVERSE)
        i = r.rng.randrange(1, len(RATINGS) - 1)
        up = r.rng.random() < 0.5
        out.append(
            {
                "issuer": s.name,
                "from": RATINGS[i],
                "to": RATINGS[i - 1 if up else i + 1],
                "direction": "upgrade" if up else "downgrade",
                "agency": r.pick(AGENCIES),
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
        implied = RATINGS[min(len(RATINGS) - 1, int(math.log10(pd / 0.0002) * 4))]
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
    sec = security(r.symbol())
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
        for f in FUNDS:
            if f[0] == code:
                return [f]
        funds = ", ".join(f[0] for f in FUNDS)
        raise BadRequestError(f"fund: unknown fund {code[:20]!r}; the demo's funds are {funds}")
    return list(FUNDS)


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
    sec = security(r.symbol())
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
    sec = security(r.symbol())
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
        found = [c for c in COUNTERPARTIES if c[0] == ident]
        if not found:
            raise BadRequestError(
                f"counterparty: unknown {ident[:20]!r}; the demo's are {', '.join(c[0] for c in COUNTERPARTIES)}"
            )
        return found
    return list(COUNTERPARTIES)


def _profiles(r: Req) -> Any:
    return [
        {
            "id": i,
            "name": n,
            "type": t,
            "rating": r.pick(RATINGS[:7]),
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
    ident = r.b_text("counterparty", COUNTERPARTIES[0][0], 32)
    if ident not in {c[0] for c in COUNTERPARTIES}:
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
        i, n, _ = r.pick(COUNTERPARTIES)
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


#: The generators of this center's APIs, by API id (the APIs of ``catalogue.toml``, unit by unit).
GENERATORS: Final[dict[str, Generator | Streamed]] = {
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
