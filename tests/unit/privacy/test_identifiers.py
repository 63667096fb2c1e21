"""privacy.identifiers: the normal form and the per-job keying."""

from __future__ import annotations

import pytest

from privacy.errors import MalformedError
from privacy.identifiers import derive_job_key, key_identifier, normalise_identifier, normalise_set


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("cnid: 11010519491231002x", "CNID:11010519491231002X"),
        ("ＣＮＩＤ：１１０１０５１９４９１２３１００２Ｘ", "CNID:11010519491231002X"),  # full width
        ("  acct:6222-0200 1234 ", "ACCT:622202001234"),
        ("Acct:ab12", "ACCT:AB12"),
    ],
)
def test_normal_form(raw: str, normal: str) -> None:
    assert normalise_identifier(raw) == normal
    assert normalise_identifier(normal) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002X",
        "cnid:110105194912310021",
        "cnid:1101051949123100",
        "acct:",
        "acct:a_b",
        "iban:X1",
        "x" * 300,
    ],
)
def test_refused(raw: str) -> None:
    with pytest.raises(MalformedError):
        normalise_identifier(raw)


def test_set_is_distinct_and_sorted() -> None:
    assert normalise_set(["acct:b", "ACCT:A", " acct:b"]) == ["ACCT:A", "ACCT:B"]


def test_keying_depends_on_job_and_secret() -> None:
    secret = bytes(range(32))
    k1, k2 = derive_job_key(secret, "job-1"), derive_job_key(secret, "job-2")
    assert k1 != k2 and len(k1) == 32
    assert key_identifier(k1, "ACCT:A") != key_identifier(k2, "ACCT:A")
    assert key_identifier(k1, "ACCT:A") == key_identifier(derive_job_key(secret, "job-1"), "ACCT:A")
    with pytest.raises(MalformedError):
        derive_job_key(b"short", "job-1")
