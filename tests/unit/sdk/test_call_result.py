"""The SDK's reading of a gateway's answer: a refusal of the grant is a denial, an allowed call the provider's
service did not answer (the gateway's 502, 503 ``circuit_open``, 504) is an upstream failure and no denial, as
its event in the log says (decision ``allow``, with the status). Answers are built in process; nothing is
served."""

from __future__ import annotations

import httpx
import pytest

from sdk import CallDeniedError, CallResult


def answer(status: int, reason: str | None = None) -> CallResult:
    body = {"error": "x", "reason": reason, "detail": f"because {reason}", "event_id": "ev"} if reason else {"a": 1}
    return CallResult.from_response(httpx.Response(status, json=body, headers={"Consortium-Event-Id": "ev"}))


@pytest.mark.parametrize(
    ("status", "reason"),
    [(502, "upstream_unreachable"), (504, "upstream_timeout"), (503, "circuit_open"), (502, "psi_record_mismatch")],
)
def test_an_allowed_call_the_service_did_not_answer_is_an_upstream_failure_not_a_denial(
    status: int, reason: str
) -> None:
    result = answer(status, reason)
    assert (result.ok, result.upstream_failure, result.denial_reason, result.denial_detail) == (
        False, reason, None, None,
    )  # fmt: skip
    assert result.raise_for_denial() is result


@pytest.mark.parametrize(("status", "reason"), [(403, "no_grant"), (503, "chain_unavailable"), (401, "bad_cert")])
def test_a_refusal_is_a_denial_and_no_upstream_failure(status: int, reason: str) -> None:
    result = answer(status, reason)
    assert (result.denial_reason, result.denial_detail, result.upstream_failure) == (reason, f"because {reason}", None)
    with pytest.raises(CallDeniedError, match=reason):
        result.raise_for_denial()


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_the_services_own_5xx_is_neither(status: int) -> None:
    result = answer(status)
    assert (result.ok, result.upstream_failure, result.denial_reason) == (False, None, None)
