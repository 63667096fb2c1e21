"""The SDK's reading of a gateway's answer: a refusal of the grant is a denial, an allowed call the provider's
service did not answer (the gateway's 502, 503 ``circuit_open``, 504) is an upstream failure and no denial, as
its event in the log says (decision ``allow``, with the status). Answers are built in process; nothing is
served."""

from __future__ import annotations

import httpx
import pytest

from sdk import CallDeniedError, CallResult


def answer(status: int, reason: str | None = None, *, header: str | None = None) -> CallResult:
    """The gateway's answer: its JSON body and, as the gateway sends with every refusal and upstream failure, the
    reason in ``Consortium-Denial-Reason`` (``header`` for another value)."""
    body = {"error": "x", "reason": reason, "detail": f"because {reason}", "event_id": "ev"} if reason else {"a": 1}
    headers = {"Consortium-Event-Id": "ev"}
    if reason is not None or header is not None:
        headers["Consortium-Denial-Reason"] = header or reason or ""
    return CallResult.from_response(httpx.Response(status, json=body, headers=headers))


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


@pytest.mark.parametrize(
    ("status", "reason"),
    [(403, "no_grant"), (503, "chain_unavailable"), (401, "bad_cert"), (429, "too_many_in_flight"),
     (413, "body_too_large"), (409, "psi_run_in_flight")],
)  # fmt: skip
def test_a_refusal_is_a_denial_and_no_upstream_failure(status: int, reason: str) -> None:
    result = answer(status, reason)
    assert (result.denial_reason, result.denial_detail, result.upstream_failure) == (reason, f"because {reason}", None)
    with pytest.raises(CallDeniedError, match=reason):
        result.raise_for_denial()


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_the_services_own_5xx_is_neither(status: int) -> None:
    result = answer(status)
    assert (result.ok, result.upstream_failure, result.denial_reason) == (False, None, None)


@pytest.mark.parametrize("status", [401, 403, 409, 413, 429, 503])
def test_the_services_own_refusal_in_the_gateways_form_is_no_denial(status: int) -> None:
    """The provider's service answering a refusal of its own, even in the gateway's JSON form, is not the
    gateway's denial: the gateway drops every ``Consortium-*`` header of an answer it passes on, so such an answer
    has no ``Consortium-Denial-Reason`` (or, from a gateway of an older version, one that differs from the body)."""
    body = {"error": "forbidden", "reason": "no_grant", "detail": "made up", "event_id": "ev"}
    own = CallResult.from_response(httpx.Response(status, json=body, headers={"Consortium-Event-Id": "ev"}))
    assert (own.denial_reason, own.denial_detail) == (None, None)
    assert own.raise_for_denial() is own
    assert answer(status, "no_grant", header="other").denial_reason is None
