"""The demo's fictional universe: its securities (symbols, names, sectors, prices), the names of its people,
sources, agencies, indices, factors, strategies, funds and counterparties, and its trading calendar; all
computed once at import, from constants only."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Final

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
class Security:
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


def _make_universe() -> tuple[Security, ...]:
    out = []
    for i in range(48):
        exchange, board = _BOARDS[i % 3]
        lead = {0: "6", 1: "0", 2: "3"}[i % 3]
        symbol = f"{lead}{i + 1:05d}.{exchange}"
        word, industry = _SECTORS[(i // 12 + i) % len(_SECTORS)]
        listed = dt.date(1995 + (i * 7) % 28, 1 + (i * 5) % 12, 1 + (i * 11) % 28)
        out.append(
            Security(symbol, f"{_PREFIXES[i % 12]} {word}", industry, exchange, board, _base_price(symbol), str(listed))
        )
    return tuple(out)


UNIVERSE: Final = _make_universe()
_BY_SYMBOL: Final = {s.symbol: s for s in UNIVERSE}
INDUSTRIES: Final = tuple(dict.fromkeys(s for _, s in _SECTORS))
SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun", "Ma", "Zhu")
GIVEN = ("Wei", "Fang", "Jing", "Lei", "Min", "Tao", "Yan", "Jun", "Hui", "Qiang", "Xia", "Ping", "Hao", "Lin")
SOURCES = ("Capital Daily", "Jinghua Wire", "Shuzhi Newsroom", "Market Herald", "Bund Observer", "Yanshan Finance")
AGENCIES = ("Yongding Ratings", "Capital Credit", "North Star Ratings")
RATINGS = ("AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BB")
ESG_GRADES = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC")
TENORS = (0.25, 0.5, 1, 2, 3, 5, 7, 10, 15, 20, 30)
STYLE_FACTORS = ("size", "beta", "momentum", "value", "volatility", "liquidity", "growth", "leverage")
FACTORS: Final = (
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
STRATEGIES: Final = (
    ("mf-enhanced-300", "Multi-Factor Enhanced 300", "multi-factor"),
    ("cta-trend-1", "Commodity Trend Follower", "cta"),
    ("stat-arb-pairs", "Sector Pairs Arbitrage", "statistical-arbitrage"),
    ("event-driven-1", "Earnings Surprise Drift", "event-driven"),
    ("low-vol-dividend", "Low Volatility Dividend", "smart-beta"),
    ("convertible-alpha", "Convertible Bond Alpha", "relative-value"),
)
INDICES: Final = (
    ("JH100", "Jinghua 100"),
    ("JH300", "Jinghua 300"),
    ("JHGRW", "Jinghua Growth"),
    ("JHVAL", "Jinghua Value"),
    ("JHDIV", "Jinghua Dividend"),
    ("JHESG", "Jinghua ESG Leaders"),
)
MACRO: Final = (
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
CURVES: Final = (
    ("treasury", 1.35, 0.0),
    ("policy-bank", 1.45, 0.12),
    ("aaa-credit", 1.70, 0.25),
    ("aa-plus-credit", 1.95, 0.45),
    ("aa-credit", 2.30, 0.70),
)
COUNTERPARTIES: Final = tuple(
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
FUNDS: Final = tuple(
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
SCENARIOS: Final = (
    ("equity-crash-2015", "Equity market crash, summer 2015", -0.32),
    ("pandemic-2020", "Pandemic shock, Q1 2020", -0.14),
    ("rates-up-100bp", "Parallel rise of 100 bp in rates", -0.05),
    ("credit-spread-wide", "Credit spreads widen 150 bp", -0.07),
    ("cny-depreciation", "CNY depreciates 8 %", -0.04),
    ("liquidity-freeze", "Interbank liquidity freeze", -0.09),
)
NEWS_TOPICS = (
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
REPORT_TITLES = (
    "margin recovery ahead",
    "initiating coverage",
    "earnings review",
    "valuation reset",
    "new capacity drives growth",
)
CONTROVERSIES = (
    "fined for emissions breach",
    "faces labour dispute",
    "recalls a product line",
    "board independence questioned",
)
ANN_CATEGORIES = ("periodic-report", "dividend", "major-contract", "shareholding-change", "board-resolution", "audit")
POSITIVE = ("beat", "record", "growth", "upgrade", "buyback", "expand", "win", "strong", "surge", "profit")
NEGATIVE = ("miss", "cut", "loss", "downgrade", "inquiry", "default", "decline", "weak", "plunge", "penalty")


def security(symbol: str) -> Security:
    """The universe's security ``symbol``; any other code gets made-up data of its own."""
    found = _BY_SYMBOL.get(symbol)
    if found is not None:
        return found
    h = hashlib.sha256(symbol.encode()).digest()
    exchange = symbol.rsplit(".", 1)[-1] if "." in symbol else "OTC"
    industry = INDUSTRIES[h[4] % len(INDUSTRIES)]
    return Security(symbol, f"Security {symbol}", industry, exchange, "main", _base_price(symbol), "2010-01-04")


_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3), (10, 4), (10, 5)})


def is_trading_day(day: dt.date) -> bool:
    """A weekday other than the universe's fixed holidays."""
    return day.weekday() < 5 and (day.month, day.day) not in _HOLIDAYS


def stamp(day: dt.date, seconds: int) -> str:
    """``day`` at ``seconds`` after 09:30 in the trading session (a lunch break 11:30-13:00), +08:00."""
    seconds = max(0, min(seconds, 4 * 3600 - 1))
    if seconds >= 2 * 3600:
        seconds += 5400
    t = 9 * 3600 + 1800 + seconds
    return f"{day.isoformat()}T{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}+08:00"
