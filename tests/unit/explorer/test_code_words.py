"""The explorer's UI names codes in words, in both languages (``explorer/static/i18n.js``): each denial reason
(``denial.<code>``) a gateway or the explorer records and the calls page's filter suggests, each alarm rule
(``alarmRule.<rule>``) of ``network.alarms.rules``, and, on a PSI job's page, each step of a job
(``jobStep.<step>``) and each party and set a disclosure's claim names (``jobParty.<party>``, ``jobSet.<set>``)."""

from __future__ import annotations

import re
from pathlib import Path

from explorer.audit import DENIALS
from gateway.policy import DENIAL_REASONS
from network.alarms.rules import RULES
from privacy.asset import STEPS
from privacy.disclosure import PARTIES, SETS

STATIC = Path(__file__).resolve().parents[3] / "explorer" / "static"


def words(prefix: str) -> tuple[set[str], set[str]]:
    """The codes ``prefix.<code>`` has strings for, in Chinese and in English."""
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    key = re.compile(rf'^\s*"{re.escape(prefix)}\.([a-z_-]+)":', re.MULTILINE)
    zh = set(key.findall(source[source.index("\n  zh: {") : source.index("\n  en: {")]))
    en = set(key.findall(source[source.index("\n  en: {") : source.index("\n};")]))
    return zh, en


def test_every_recorded_and_suggested_denial_reason_has_words_in_both_languages() -> None:
    zh, en = words("denial")
    calls = (STATIC / "views" / "calls.js").read_text(encoding="utf-8")
    listed = calls[calls.index("const DENIAL_REASONS = [") :]
    suggested = set(re.findall(r'^\s*"([a-z_]+)",$', listed[: listed.index("];")], re.MULTILINE))
    recorded = {*DENIAL_REASONS.values(), *DENIALS.values(), "refused"}  # "refused": explorer.audit's default
    assert recorded <= suggested, f"not suggested by the calls filter: {sorted(recorded - suggested)}"
    assert suggested <= zh and suggested <= en, f"no words: zh {sorted(suggested - zh)}, en {sorted(suggested - en)}"


def test_every_alarm_rule_has_words_in_both_languages() -> None:
    zh, en = words("alarmRule")
    rules = set(RULES)
    assert rules <= zh and rules <= en, f"no words: zh {sorted(rules - zh)}, en {sorted(rules - en)}"


def test_every_job_step_and_claimed_party_and_set_has_words_in_both_languages() -> None:
    for prefix, codes in (("jobStep", STEPS), ("jobParty", PARTIES), ("jobSet", SETS)):
        zh, en = words(prefix)
        assert set(codes) <= zh and set(codes) <= en, (
            f"{prefix}: no words: zh {sorted(set(codes) - zh)}, en {sorted(set(codes) - en)}"
        )
