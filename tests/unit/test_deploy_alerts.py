"""``deploy/prometheus/alerts.yml``: it parses as YAML in Prometheus' rule-file shape, each rule has a severity of
ours and a summary, and every metric its expressions name is one a component of ours exports (its name is in
the code that renders ``/metrics``), so a renamed metric cannot leave a rule silently watching nothing."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
#: Where metrics are rendered: the notary, its witnesses, the chain node, the gateway.
EXPORTERS = ("notary/api/operations.py", "notary/witness/server.py", "chain/node/service.py", "gateway/server.py")
#: Our metrics' prefixes; ``up`` is Prometheus' own (whether a scrape succeeded).
METRIC = re.compile(r"\b((?:notary|witness|consortium)_[a-z0-9_]+)\b")
SEVERITIES = {"info", "warning", "critical"}


def rules() -> list[dict[str, object]]:
    data = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data["groups"], list)
    found = []
    for group in data["groups"]:
        assert isinstance(group["name"], str) and group["rules"], group
        found += group["rules"]
    return found


def test_the_file_parses_and_every_rule_has_a_severity_and_a_summary() -> None:
    found = rules()
    assert len(found) >= 10
    names = [r["alert"] for r in found]
    assert len(names) == len(set(names)), "alert names repeat"
    for rule in found:
        assert isinstance(rule["expr"], str) and rule["expr"].strip(), rule
        labels, annotations = rule["labels"], rule["annotations"]
        assert isinstance(labels, dict) and labels["severity"] in SEVERITIES, rule
        assert isinstance(annotations, dict) and annotations["summary"], rule


def test_every_metric_named_is_exported_by_a_component() -> None:
    code = "\n".join((ROOT / path).read_text(encoding="utf-8") for path in EXPORTERS)
    named = {m for rule in rules() for m in METRIC.findall(str(rule["expr"]))}
    assert {"notary_witness_up", "notary_gaps", "consortium_consensus_in_quorum"} <= named
    missing = sorted(m for m in named if m not in code)
    assert not missing, f"alerts.yml names metrics no component exports: {missing}"


def test_a_made_up_metric_would_be_caught() -> None:
    code = "\n".join((ROOT / path).read_text(encoding="utf-8") for path in EXPORTERS)
    assert "notary_witnesses_up" not in code and METRIC.findall("sum(notary_witnesses_up) < 5")
