"""A firm's compliance report for a period, and its CSV and HTML forms.

The report (:func:`compliance_report`) holds the calls the firm made and served (from the call index's
per-minute counts, exact at the period's edges), the grants created or revoked where it is grantor or grantee,
and the gaps in its gateways' sequence numbers; for the regulator, and for the firm's own people under the
consortium's ``audit`` policy, how many of its calls the regulator's queries read in the period
(``regulator_looks``, ``explorer.lookedat.look_counts``). :func:`report_csv` flattens it to ``field,value`` rows;
:func:`report_html` nests it in tables, every value escaped.
"""

from __future__ import annotations

import csv
import html
import io
import time
from collections.abc import Mapping
from typing import Any

from explorer.calls import CallStore
from explorer.chainindex import ChainIndex
from explorer.lookedat import LookCounts
from explorer.state import Snapshot


def compliance_report(
    calls: CallStore, chain: ChainIndex, snapshot: Snapshot, org: str, from_ms: int, to_ms: int,
    regulator_looks: LookCounts | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Calls made and served, denials, grants changed and gaps of ``org`` between ``from_ms`` and ``to_ms``, and
    ``regulator_looks`` when the reader may know it (absent otherwise)."""
    grants_changed = []
    for kind in ("GrantCreated", "GrantRevoked", "PrivateGrantCreated", "PrivateGrantRevoked"):
        for item in chain.events(contract="AccessGrants", event=kind, before=None, limit=10_000):
            args = item.get("args") or {}
            parties = {args.get("grantee"), args.get("grantor")}
            grant = snapshot.grant(str(args.get("grant_id")))
            if grant is not None:
                parties |= {grant.grantor, grant.grantee}
            private = snapshot.private_grant(str(args.get("grant_id")))
            if private is not None:  # its grantee is not known here: the grantor's report names it
                parties.add(private.grantor)
            if org in parties and from_ms <= int(item["timestamp"]) * 1000 < to_ms:
                grants_changed.append({"time": item["timestamp"], "event": kind, "grant_id": args.get("grant_id"),
                                       "tx_hash": item["tx_hash"]})  # fmt: skip
    gaps = [g for g in calls.gaps() if str(g.get("gateway", "")).split("/")[0] == org]
    report: dict[str, Any] = {
        "org": org,
        "from_ms": from_ms,
        "to_ms": to_ms,
        "generated_ms": int(time.time() * 1000),
        "log_size": calls.size(),
        "calls": calls.report(org, from_ms, to_ms),
        "grants_changed": sorted(grants_changed, key=lambda g: g["time"]),
        "gaps": gaps,
    }
    if regulator_looks is not None:
        report["regulator_looks"] = regulator_looks
    return report


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    else:
        out.append((prefix, "" if value is None else str(value)))


def report_csv(data: Mapping[str, Any]) -> bytes:
    """The report as ``field,value`` rows, one per leaf value (``calls.made.by_api[0].api``)."""
    rows: list[tuple[str, str]] = []
    _flatten("", data, rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("field", "value"))
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _html_value(value: Any) -> str:
    if isinstance(value, Mapping):
        cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_html_value(v)}</td></tr>" for k, v in value.items())
        return f"<table>{cells}</table>"
    if isinstance(value, list):
        if value and all(isinstance(v, Mapping) for v in value):
            keys = list(dict.fromkeys(k for v in value for k in v))
            head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
            body = "".join("<tr>" + "".join(f"<td>{_html_value(v.get(k))}</td>" for k in keys) + "</tr>" for v in value)
            return f"<table><tr>{head}</tr>{body}</table>"
        return "<ul>" + "".join(f"<li>{_html_value(v)}</li>" for v in value) + "</ul>" if value else "—"
    return html.escape("—" if value is None else str(value))


def report_html(data: Mapping[str, Any]) -> str:
    """The report as a page of nested tables (no script), styled by the web UI's stylesheet."""
    title = f"Compliance report — {data['org']}"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        '<link rel="stylesheet" href="/static/style.css"></head><body class="report">'
        f"<h1>{html.escape(title)}</h1>{_html_value(data)}</body></html>"
    )
