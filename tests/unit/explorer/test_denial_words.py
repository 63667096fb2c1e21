"""The explorer's UI names each denial reason in words (``denial.<code>`` in ``explorer/static/i18n.js``, in both
languages): every code a gateway or the explorer records, and every code the calls page's filter suggests."""

from __future__ import annotations

import re
from pathlib import Path

from explorer.audit import DENIALS
from gateway.policy import DENIAL_REASONS

STATIC = Path(__file__).resolve().parents[3] / "explorer" / "static"


def denial_keys(block: str) -> set[str]:
    return set(re.findall(r'^\s*"denial\.([a-z_]+)":', block, re.MULTILINE))


def test_every_recorded_and_suggested_denial_reason_has_words_in_both_languages() -> None:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    zh = denial_keys(source[source.index("\n  zh: {") : source.index("\n  en: {")])
    en = denial_keys(source[source.index("\n  en: {") : source.index("\n};")])
    calls = (STATIC / "views" / "calls.js").read_text(encoding="utf-8")
    listed = calls[calls.index("const DENIAL_REASONS = [") :]
    suggested = set(re.findall(r'^\s*"([a-z_]+)",$', listed[: listed.index("];")], re.MULTILINE))
    recorded = {*DENIAL_REASONS.values(), *DENIALS.values(), "refused"}  # "refused": explorer.audit's default
    assert recorded <= suggested, f"not suggested by the calls filter: {sorted(recorded - suggested)}"
    assert suggested <= zh and suggested <= en, f"no words: zh {sorted(suggested - zh)}, en {sorted(suggested - en)}"
