"""The generators of the Investment Research service center: research reports, the factor library, strategy
models, risk models, AI models, quant backtesting and ESG data."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from typing import Any, Final

from demo.services.request import DEFAULT_DATE, MAX_LIMIT, BadRequestError, Generator, Req, Streamed, per_symbol
from demo.services.universe import (
    CONTROVERSIES,
    ESG_GRADES,
    FACTORS,
    NEGATIVE,
    NEWS_TOPICS,
    POSITIVE,
    REPORT_TITLES,
    SCENARIOS,
    STRATEGIES,
    STYLE_FACTORS,
    UNIVERSE,
    security,
)

# -- research and factors ------------------------------------------------------------------------------------------


def _report(r: Req, symbol: str | None = None) -> dict[str, Any]:
    sec = security(symbol) if symbol else r.pick(UNIVERSE)
    rating = r.pick(("buy", "outperform", "neutral", "underperform"))
    return {
        "id": f"rpt-{r.hexid(str(r.rng.random()), 10)}",
        "title": f"{sec.name}: {r.pick(REPORT_TITLES)}",
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
    sec = security(r.symbol())
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
    return r.choice("factor", FACTORS[0][0], tuple(f[0] for f in FACTORS))


def _factor_catalog(r: Req) -> Any:
    return [
        {"id": f, "category": c, "description": d, "frequency": "daily", "since": "2010-01-04"} for f, c, d in FACTORS
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
    ident = r.choice("strategy", STRATEGIES[0][0], tuple(s[0] for s in STRATEGIES))
    return next(s for s in STRATEGIES if s[0] == ident)


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
        for k, (i, n, t) in enumerate(STRATEGIES)
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
            price = security(symbol).base_price
            trades.append(
                {
                    "symbol": symbol,
                    "side": "buy" if delta > 0 else "sell",
                    "weight_change": round(delta, 4),
                    "shares": int(abs(delta) * capital / price // 100 * 100),
                }
            )
    return {
        "strategy": r.b_text("strategy", STRATEGIES[0][0], 64),
        "targets": targets,
        "trades": trades,
        "estimated_cost_bp": r.num(2, 15),
    }


def _exposure(r: Req) -> Any:
    portfolio = r.portfolio()
    style = {f: 0.0 for f in STYLE_FACTORS}
    industries: dict[str, float] = {}
    for symbol, weight in portfolio.items():
        h = hashlib.sha256(symbol.encode()).digest()
        for k, f in enumerate(STYLE_FACTORS):
            style[f] += weight * ((h[k] - 128) / 64)
        industry = security(symbol).industry
        industries[industry] = industries.get(industry, 0.0) + weight
    return {
        "model": "jinghua-cne-demo/v2",
        "style": {k: round(v, 4) for k, v in style.items()},
        "industry": {k: round(v, 4) for k, v in sorted(industries.items())},
        "specific_risk_pct": r.num(2, 12),
    }


def _covariance(r: Req) -> Any:
    n = len(STYLE_FACTORS)
    a = [[r.rng.gauss(0, 0.1) for _ in range(n)] for _ in range(n)]
    cov = [
        [round(sum(a[i][k] * a[j][k] for k in range(n)) + (0.01 if i == j else 0), 6) for j in range(n)]
        for i in range(n)
    ]
    return {
        "model": "jinghua-cne-demo/v2",
        "date": r.date.isoformat(),
        "horizon": "monthly",
        "factors": list(STYLE_FACTORS),
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
    wanted = r.b_strings("scenarios", len(SCENARIOS), 64)
    known = {s[0]: s for s in SCENARIOS}
    for w in wanted:
        if w not in known:
            raise BadRequestError(f"body.scenarios: unknown {w!r}; use {', '.join(known)}")
    chosen = [known[w] for w in wanted] or list(SCENARIOS)
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
        pos = sum(lower.count(w) for w in POSITIVE)
        neg = sum(lower.count(w) for w in NEGATIVE)
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
    sec = security(r.symbol())
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
            f"The report {report_id or 'given'} discusses {r.pick(NEWS_TOPICS)}.",
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
    strategy = r.b_text("strategy", STRATEGIES[0][0], 64)
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


# -- ESG -----------------------------------------------------------------------------------------------------------


def _esg_ratings(r: Req) -> Any:
    return [
        {
            "symbol": s.symbol,
            "name": s.name,
            "rating": r.pick(ESG_GRADES),
            "score": r.num(20, 90, 1),
            "outlook": r.pick(("positive", "stable", "negative")),
            "date": r.date.isoformat(),
        }
        for s in per_symbol(r)
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
        for s in per_symbol(r)
    ]


def _controversies(r: Req) -> Any:
    out = []
    for s in per_symbol(r, 5):
        for _ in range(r.rng.randrange(0, 3)):
            out.append(
                {
                    "symbol": s.symbol,
                    "date": (r.date - dt.timedelta(days=r.rng.randrange(400))).isoformat(),
                    "category": r.pick(("environment", "product-safety", "labour", "governance")),
                    "severity": r.pick(("low", "moderate", "high")),
                    "summary": f"{s.name} {r.pick(CONTROVERSIES)}",
                }
            )
    return out


def _carbon(r: Req) -> Any:
    out = []
    for s in per_symbol(r, 5):
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


#: The generators of this center's APIs, by API id (the APIs of ``catalogue.toml``, unit by unit).
GENERATORS: Final[dict[str, Generator | Streamed]] = {
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
}
