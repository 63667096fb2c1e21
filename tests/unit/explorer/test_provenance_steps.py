"""The provenance's links as the API describes them: each step's ``data`` has the model its ``step`` picks.

The grant and asset links' data come from the chain index (``tests/integration/explorer/test_chain_index.py``
checks those models hold them exactly); here, the call link and the evidence links, built by
``explorer.provenance`` from a log entry and from ``notary.verify`` steps, and the union's refusals.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import ResponseValidationError
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter, ValidationError

from explorer.api.calls import CALL_PAGE, PROVENANCE
from explorer.api.schemas import CallPage, CallStep, EvidenceStep, GrantStep, Provenance, Step
from explorer.calls import CallRow
from explorer.provenance import DETAILS, EVIDENCE_LINKS, call_step, evidence_steps
from notary.answer import ModelAnswer
from notary.event import canonical_entry
from notary.verify import Step as Check
from tests.support.notary_events import event

STEP: TypeAdapter[Any] = TypeAdapter(Step)


def _row(**changes: Any) -> CallRow:
    return CallRow(**{**event(), **changes})  # type: ignore[typeddict-item]


def test_a_call_link_checked_has_no_data_and_one_that_differs_shows_the_event_as_logged() -> None:
    step, parsed = call_step(_row(), canonical_entry(event()))
    assert step["ok"] is True and parsed == event()
    assert isinstance(STEP.validate_python(step), CallStep) and step["data"] is None
    logged = event(decision="deny", denial_reason="no_grant", grant_id=None, status=403, response_digest=None)
    step, _ = call_step(_row(), canonical_entry(logged))
    assert step["ok"] is False and "decision" in step["detail"]
    shown = STEP.validate_python(step)
    assert isinstance(shown, CallStep) and shown.data is not None
    assert shown.data.model_dump(exclude_unset=True) == logged


def test_the_call_link_of_an_allowed_call_the_service_did_not_answer_says_its_status() -> None:
    failed = event(status=503)  # allowed, answered 503 circuit_open by the gateway: no success, no refusal
    step, _ = call_step(_row(status=503), canonical_entry(failed))
    assert step["ok"] is True and step["detail"].endswith(": allow, status 503"), step["detail"]
    # the page says it in its language from the code and its parameters, which the English was written from
    assert step["code"] == "call.matches" and step["params"]["decision"] == "allow" and step["params"]["status"] == 503
    assert step["detail"] == DETAILS["call.matches"].format(**step["params"])


@pytest.mark.parametrize(
    "entry",
    [
        b"[1, 2]",
        b"7",
        b"null",
        b"not json",
        b"\xff",
        json.dumps({**event(), "anything": 1}, sort_keys=True, separators=(",", ":")).encode(),  # not an event
        json.dumps(event()).encode(),  # an event, not in canonical form
    ],
)
def test_a_log_entry_that_is_not_a_valid_event_fails_the_call_link_without_an_error(entry: bytes) -> None:
    step, parsed = call_step(_row(), entry)
    assert step["ok"] is False and parsed is None and step["data"] is None
    assert step["detail"].startswith("the log entry is not a valid event: ")
    assert isinstance(STEP.validate_python(step), CallStep)


def test_each_evidence_link_carries_the_checks_behind_it() -> None:
    names = [name for _, checks in EVIDENCE_LINKS for name in checks]
    checks = [Check(name, name != "seals", f"{name} checked") for name in names]

    class Bundle:
        index, leaf_hash = 4, b"\x01" * 32

    row = _row(index=4, leaf_hash=base64.b64encode(Bundle.leaf_hash).decode("ascii"))
    steps = evidence_steps(checks, Bundle(), row)  # type: ignore[arg-type]
    assert [s["step"] for s in steps] == [link for link, _ in EVIDENCE_LINKS]
    shown = [STEP.validate_python(s) for s in steps]
    assert all(isinstance(s, EvidenceStep) for s in shown)
    assert [c.name for s in shown for c in s.data.checks] == names
    assert [s.ok for s in shown] == [True] * 5 + [False]  # the block link: its seals failed


def test_the_step_name_picks_the_model_and_a_data_of_another_link_is_refused() -> None:
    grant = STEP.validate_python(
        {
            "step": "grant",
            "ok": None,
            "detail": "no grant was involved",
            "code": "grant.none",
            "params": {},
            "data": None,
        }
    )
    assert isinstance(grant, GrantStep)
    with pytest.raises(ValidationError):  # an evidence link's checks are no grant
        STEP.validate_python(
            {
                "step": "grant",
                "ok": True,
                "detail": "",
                "code": "evidence.checked",
                "params": {},
                "data": {"checks": []},
            }
        )
    with pytest.raises(ValidationError):
        STEP.validate_python(
            {"step": "signature", "ok": True, "detail": "", "code": "evidence.checked", "params": {}, "data": None}
        )
    with pytest.raises(ValidationError):  # an unknown evidence check shape
        STEP.validate_python(
            {
                "step": "inclusion",
                "ok": True,
                "detail": "",
                "code": "evidence.checked",
                "params": {},
                "data": {"checks": [{"name": "x"}]},
            }
        )


def _written_by_fastapi(model: type[BaseModel], body: dict[str, Any]) -> tuple[bytes, str]:
    """The bytes and content type FastAPI answers for a route returning ``body`` with ``response_model=model`` and
    ``response_model_exclude_unset``, as the explorer's routes declare."""
    app = FastAPI()
    app.get("/as-dict", response_model=model, response_model_exclude_unset=True)(lambda: body)
    with TestClient(app) as client:
        written = client.get("/as-dict")
    assert written.status_code == 200
    return written.content, written.headers["content-type"]


def test_the_provenance_and_the_search_write_the_bytes_fastapi_writes_for_their_models() -> None:
    """``ModelAnswer`` (the provenance and the search check and write their answer in the route's thread): the same
    bytes as FastAPI validating the dict, extra keys of a row dropped and keys left unset left out as there."""
    names = [name for _, checks in EVIDENCE_LINKS for name in checks]

    class Bundle:
        index, leaf_hash = 4, b"\x01" * 32

    leaf_hash = base64.b64encode(Bundle.leaf_hash).decode("ascii")
    row = _row(index=4, leaf_hash=leaf_hash, trace_id="4bf92f3577b34da6a3ce929d0e0e4736")  # and the event's own keys
    first, _ = call_step(row, canonical_entry(event(decision="deny", status=403, denial_reason="no_grant")))
    checks = [Check(name, name != "seals", f"{name} checked — “ok”") for name in names]
    steps = [
        first,
        {
            "step": "grant",
            "ok": None,
            "detail": "no grant was involved",
            "code": "grant.none",
            "params": {},
            "data": None,
        },
    ]
    steps += evidence_steps(checks, Bundle(), row)  # type: ignore[arg-type]
    keys = {
        "origin": "o/audit-log", "log_vkey": "o/audit-log+abcd+AQ",
        "witnesses": [{"org": "reg", "vkey": "w+1+AQ", "regulator": True}],
        "policy": {"threshold": 1, "require_regulator": True, "witnesses": ["reg"], "regulators": ["reg"]},
    }  # fmt: skip
    answers: list[tuple[type[BaseModel], ModelAnswer, dict[str, Any]]] = [
        (Provenance, PROVENANCE, {"event_id": row["event_id"], "call": row, "verified": False, "steps": steps,
                                  "evidence": None, "keys": keys}),
        (CallPage, CALL_PAGE, {"calls": [{**row, "regulator_queries": []}] * 3, "next": None, "limit": 50}),
    ]  # fmt: skip
    for model, answer, body in answers:
        content, media_type = _written_by_fastapi(model, body)
        ours = answer(body)
        assert ours.body == content and ours.media_type == media_type, model


def test_a_body_its_model_refuses_is_fastapis_response_validation_error() -> None:
    with pytest.raises(ResponseValidationError) as refused:
        CALL_PAGE({"calls": [], "next": None})
    assert [e["loc"] for e in refused.value.errors()] == [("limit",)]
