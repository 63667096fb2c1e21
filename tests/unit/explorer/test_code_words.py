"""The explorer's UI names codes in words, in both languages (``explorer/static/i18n.js``): each denial reason
(``denial.<code>``) a gateway or the explorer records and the calls page's filter suggests, each alarm rule
(``alarmRule.<rule>``) of ``network.alarms.rules``, and, on a PSI job's page, each step of a job
(``jobStep.<step>``) and each party and set a disclosure's claim names (``jobParty.<party>``, ``jobSet.<set>``), and,
on a call's provenance page, what each link found (``provStep.<code>`` of ``explorer.provenance.DETAILS``)."""

from __future__ import annotations

import re
from pathlib import Path

from explorer.audit import DENIALS
from explorer.provenance import DETAILS
from gateway.policy import DENIAL_REASONS
from network.alarms.rules import RULES
from privacy.asset import STEPS
from privacy.disclosure import PARTIES, SETS

STATIC = Path(__file__).resolve().parents[3] / "explorer" / "static"


def words(prefix: str) -> tuple[set[str], set[str]]:
    """The codes ``prefix.<code>`` has strings for, in Chinese and in English."""
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    key = re.compile(rf'^\s*"{re.escape(prefix)}\.([a-z_.-]+)":', re.MULTILINE)
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


def templates(prefix: str, lang: str) -> dict[str, str]:
    """The strings of ``prefix.<code>`` in one language, by code (a string may start on the key's next line)."""
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    zh, en = source.index("\n  zh: {"), source.index("\n  en: {")
    part = source[zh:en] if lang == "zh" else source[en : source.index("\n};")]
    entry = re.compile(rf'^\s*"{re.escape(prefix)}\.([a-z_.-]+)":\s*"((?:[^"\\]|\\.)*)"', re.MULTILINE)
    return dict(entry.findall(part))


def test_every_provenance_code_has_words_in_both_languages_naming_its_params() -> None:
    zh, en = templates("provStep", "zh"), templates("provStep", "en")
    codes = set(DETAILS)
    assert codes <= set(zh) and codes <= set(en), (
        f"no words: zh {sorted(codes - set(zh))}, en {sorted(codes - set(en))}"
    )
    named = re.compile(r"\{(\w+)\}")
    for code, english in DETAILS.items():
        params = set(named.findall(english))
        for lang, words in (("zh", zh[code]), ("en", en[code])):
            assert set(named.findall(words)) <= params, f"{lang} provStep.{code} names a parameter the server sends not"
        if not code.startswith("evidence."):  # the evidence links' details are the notary's verifier's, in English
            assert set(named.findall(zh[code])) == params, f"zh provStep.{code} leaves out a parameter"
            assert en[code] == english, f"en provStep.{code} is not the server's English"
