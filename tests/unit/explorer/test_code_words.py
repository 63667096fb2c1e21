"""The explorer's UI names codes in words, in both languages (``explorer/static/i18n.js``): each denial reason
(``denial.<code>``) a gateway or the explorer records and the calls page's filter suggests, each alarm rule
(``alarmRule.<rule>``) of ``network.alarms.rules``, and, on a PSI job's page, each step of a job
(``jobStep.<step>``) and each party and set a disclosure's claim names (``jobParty.<party>``, ``jobSet.<set>``), and,
on a call's provenance page, what each link found (``provStep.<code>`` of ``explorer.provenance.DETAILS``) and what
each of the browser's checks found (``verifyCheck.<code>`` of ``CHECK_WORDS`` in ``explorer/static/verify.js``), and on
the alarms page what each alarm's summary says (``alarmSummary.<code>`` of ``network.alarms.rules.SUMMARIES``) and
each kind of component an alarm's subject names (``alarmSubject.<kind>``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from explorer.audit import DENIALS
from explorer.provenance import DETAILS
from gateway.policy import DENIAL_REASONS
from network.alarms.rules import RULES, SUMMARIES
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
    entry = re.compile(rf'^\s*"{re.escape(prefix)}\.([A-Za-z0-9_.-]+)":\s*"((?:[^"\\]|\\.)*)"', re.MULTILINE)
    return dict(entry.findall(part))


@functools.cache
def check_words() -> dict[str, str]:
    """``CHECK_WORDS`` of ``verify.js``: each code its browser checks can give, with its English words."""
    source = (STATIC / "verify.js").read_text(encoding="utf-8")
    block = source[source.index("export const CHECK_WORDS = Object.freeze({") :]
    block = block[: block.index("\n});")]
    entry = re.compile(r'^\s*"?([A-Za-z0-9_.-]+)"?:\s*"((?:[^"\\]|\\.)*)"', re.MULTILINE)
    return dict(entry.findall(block.split("\n", 1)[1]))


@pytest.mark.parametrize(
    ("prefix", "english", "as_given"),
    [
        ("provStep", DETAILS, lambda code: code.startswith("evidence.")),  # the notary's verifier's English as is
        ("verifyCheck", check_words(), lambda code: code == "failed"),  # a failure names hashes and fields as is
        ("alarmSummary", SUMMARIES, lambda code: False),
    ],
    ids=["provenance", "browser-checks", "alarm-summaries"],
)
def test_every_code_has_words_in_both_languages_naming_its_params(
    prefix: str, english: dict[str, str], as_given: Callable[[str], bool]
) -> None:
    """Every code the server (or verify.js) can give has words in Chinese and English, naming only the parameters
    it is given, and the English words are the English the code's detail was written in."""
    assert len(english) > 5
    zh, en = templates(prefix, "zh"), templates(prefix, "en")
    codes = set(english)
    assert codes <= set(zh) and codes <= set(en), (
        f"no words: zh {sorted(codes - set(zh))}, en {sorted(codes - set(en))}"
    )
    named = re.compile(r"\{(\w+)\}")
    for code, said in english.items():
        params = set(named.findall(said))
        for lang, words in (("zh", zh[code]), ("en", en[code])):
            assert set(named.findall(words)) <= params, f"{lang} {prefix}.{code} names a parameter not given"
        assert en[code] == said, f"en {prefix}.{code} is not the English its detail is written in"
        if not as_given(code):
            assert set(named.findall(zh[code])) == params, f"zh {prefix}.{code} leaves out a parameter"


def test_every_kind_of_alarm_subject_has_words_in_both_languages() -> None:
    """The subjects the rules name: ``witness/<org>``, ``node/<org>``, ``gateway/<org>``, ``notary``, ``witnesses``,
    ``chain`` (each rule's subject as ``network.alarms.rules`` writes it)."""
    source = (Path(__file__).resolve().parents[3] / "network" / "alarms" / "rules.py").read_text(encoding="utf-8")
    kinds = set(re.findall(r'(?:said\(\s*"[a-z-]+",\s*|subject = )f?"([a-z]+)[/"]', source))
    assert {"witness", "node", "gateway", "notary", "witnesses", "chain"} <= kinds, kinds
    zh, en = words("alarmSubject")
    assert kinds <= zh and kinds <= en, f"no words: zh {sorted(kinds - zh)}, en {sorted(kinds - en)}"
