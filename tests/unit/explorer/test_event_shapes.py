"""The event's fields are written in five places: the schema table (``notary.event.FIELDS`` and
``OPTIONAL_FIELDS``), the TypedDicts ``UnsequencedEvent``/``EventJSON``, the frozen ``Event``, the explorer's
``CallRow`` and the API's response model ``Call``. Python cannot derive one from another without losing the
static types or the OpenAPI descriptions, so this test fails when any two disagree on a field's name, its type or
whether it may be null or absent. A field added to the event must be added to each, or, for the call index,
named in ``NOT_INDEXED`` with the reason."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, get_type_hints

import pytest

from explorer.api.schemas import Call
from explorer.calls import CallRow
from notary.event import FIELDS, OPTIONAL_FIELDS, Event, EventJSON, UnsequencedEvent

#: The Python type of each kind of the schema table.
KIND_TYPES: dict[str, type] = {"version": int, "uint": int, "status": int, "seq": int}
#: Event fields the call index leaves out, and why (``CallRow``'s docstring).
NOT_INDEXED = {
    "v": "the schema version decides only how digests are salted",
    "traceparent": "indexed as its trace id (trace_id)",
    "caller_identity": "a hash of the caller's certificate, not shown",
    "request_digest": "digests are not shown",
    "response_digest": "digests are not shown",
    "psi_dp_cost": "a job's steps are read through their own route",
    "psi_job": "a job's steps are read through their own route",
    "psi_record": "a job's steps are read through their own route",
    "psi_retry_of": "a job's steps are read through their own route",
    "psi_summary": "a job's steps are read through their own route",
}
#: What a call row adds to the event's fields: where its entry is in the log, and the trace id.
INDEX_FIELDS: dict[str, Any] = {"index": int, "leaf_hash": str, "trace_id": str}
#: A single call's read carries these too (``NotRequired`` in ``CallRow``, absent from a search's ``Call``).
SINGLE_CALL_FIELDS: dict[str, Any] = {"entry": bytes, "subject": str}


def _schema_type(name: str) -> Any:
    kind, nullable = FIELDS[name]
    base = KIND_TYPES.get(kind, str)
    return base | None if nullable else base


def _same(a: Any, b: Any) -> bool:
    """Whether two annotations are the same type (``Optional[X]`` and ``X | None`` alike)."""

    def norm(t: Any) -> Any:
        if typing.get_origin(t) in (typing.Union, types.UnionType):
            return frozenset(typing.get_args(t))
        return t

    return bool(norm(a) == norm(b))


def _not_required(typed_dict: Any) -> set[str]:
    """The ``NotRequired`` keys of a TypedDict (its ``__optional_keys__`` miss them where the module's annotations
    are strings, PEP 563)."""
    hints = get_type_hints(typed_dict, include_extras=True)
    return {name for name, hint in hints.items() if typing.get_origin(hint) is typing.NotRequired}


def test_the_typed_dicts_are_the_schema_table() -> None:
    hints = get_type_hints(EventJSON)
    assert set(hints) == set(FIELDS) | set(OPTIONAL_FIELDS)
    assert _not_required(EventJSON) == set(OPTIONAL_FIELDS)
    for name in FIELDS:
        assert _same(hints[name], _schema_type(name)), name
    for name in OPTIONAL_FIELDS:
        assert hints[name] is str, name  # absent, never null
    unsequenced = get_type_hints(UnsequencedEvent)
    assert set(hints) - set(unsequenced) == {"gateway_seq"}
    assert all(_same(unsequenced[n], hints[n]) for n in unsequenced)
    assert _not_required(UnsequencedEvent) == set(OPTIONAL_FIELDS)


def test_the_event_dataclass_is_the_typed_dict() -> None:
    json_hints = get_type_hints(EventJSON)
    hints = get_type_hints(Event)
    fields = {f.name: f for f in dataclasses.fields(Event)}
    assert set(fields) == set(json_hints)
    for name in FIELDS:
        assert fields[name].default is dataclasses.MISSING, f"{name} is required"
        assert _same(hints[name], json_hints[name]), name
    for name in OPTIONAL_FIELDS:
        assert fields[name].default is None, f"{name} may be absent: None in the dataclass"
        assert _same(hints[name], json_hints[name] | None), name


def test_a_call_row_is_the_event_but_what_the_index_leaves_out() -> None:
    event = get_type_hints(EventJSON)
    row = get_type_hints(CallRow)
    assert set(NOT_INDEXED) <= set(event)
    shared = set(event) - set(NOT_INDEXED) - set(SINGLE_CALL_FIELDS)
    assert set(row) == shared | set(INDEX_FIELDS) | set(SINGLE_CALL_FIELDS)
    for name in shared:
        assert _same(row[name], event[name]), name
    for name, expected in {**INDEX_FIELDS, **SINGLE_CALL_FIELDS}.items():
        assert _same(row[name], expected), name
    assert _not_required(CallRow) == set(SINGLE_CALL_FIELDS)


def test_the_api_call_model_is_the_call_row() -> None:
    row = get_type_hints(CallRow)
    model = Call.model_fields
    assert set(model) == set(row) - set(SINGLE_CALL_FIELDS)
    for name, field in model.items():
        assert _same(field.annotation, row[name]), name
        assert field.is_required(), f"{name} is in every call row"


@pytest.mark.parametrize("changed", ["a field renamed", "a type changed", "nullability changed"])
def test_the_comparison_can_fail(changed: str) -> None:
    """``_same`` and the set comparisons see each kind of disagreement (so the tests above can fail)."""
    row = dict(get_type_hints(CallRow))
    if changed == "a field renamed":
        row["latency_ms"] = row.pop("latency_us")
        assert set(Call.model_fields) != set(row) - set(SINGLE_CALL_FIELDS)
    elif changed == "a type changed":
        assert not _same(str, row["status"])
    else:
        assert not _same(int, row["asset_version"])
        assert _same(int | None, row["asset_version"])
