"""The statistics of ``make bench-revocation`` (``bench/revocation.py``): which call is the first refusal, how
many calls were let through after the receipt, and the percentiles in ms and in blocks."""

from __future__ import annotations

import pytest

from bench.revocation import Call, NeverRefusedError, first_refusal, summarize


def _calls(*answers: tuple[float, str | None]) -> list[Call]:
    """Calls sent at the given times, each answered 5 ms later (200, or 403 with the reason)."""
    return [Call(sent, sent + 0.005, 200 if reason is None else 403, reason) for sent, reason in answers]


def test_first_refusal_counts_only_calls_sent_after_the_receipt() -> None:
    calls = _calls((99.98, None), (99.99, None), (100.01, None), (100.02, None), (100.03, "grant_revoked"))
    trial = first_refusal(calls, "grant_revoked", receipt_seen=100.0, block_timestamp=99)
    assert trial.allowed_after_receipt == 2
    assert trial.from_receipt_ms == pytest.approx(35.0)
    assert trial.from_block_ms == pytest.approx(1035.0)


def test_a_refusal_for_another_reason_is_not_taken_for_the_revocation() -> None:
    calls = _calls((100.01, None), (100.02, "quota_exceeded"), (100.03, "grant_revoked"))
    with pytest.raises(NeverRefusedError, match="quota_exceeded"):
        first_refusal(calls, "grant_revoked", receipt_seen=100.0, block_timestamp=100)


def test_calls_never_refused_are_an_error() -> None:
    with pytest.raises(NeverRefusedError, match="no call was refused"):
        first_refusal(_calls((100.01, None)), "member_suspended", receipt_seen=100.0, block_timestamp=100)


def test_summarize_gives_percentiles_in_ms_and_blocks() -> None:
    values = [float(v) for v in range(10, 210, 10)]  # 10, 20, ... 200 ms: twenty trials
    figures = summarize(values, block_s=0.5)
    assert figures == {
        "p50_ms": 110.0,
        "p50_blocks": 0.22,
        "p95_ms": 200.0,
        "p95_blocks": 0.4,
        "max_ms": 200.0,
        "max_blocks": 0.4,
    }
    with pytest.raises(ValueError, match="no values"):
        summarize([], block_s=1.0)
