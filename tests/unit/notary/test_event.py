"""Audit events: every field's refusal path, the cross-field rules, and the canonical entry bytes."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notary.event import (
    FIELDS,
    Event,
    EventSchemaError,
    caller_identity,
    canonical_entry,
    gateway_org,
    parse_entry,
    validate_event,
)
from notary.log.errors import MalformedError
from tests.support.notary_events import event


def test_a_valid_event_round_trips_through_its_canonical_bytes() -> None:
    data = canonical_entry(validate_event(event()))
    assert data.startswith(b'{"api":"news-latest","asset_id":"financial-news"')
    assert b" " not in data.replace(b"Z", b"")  # compact: no insignificant whitespace
    assert parse_entry(data) == event()
    assert canonical_entry(parse_entry(data)) == data


def test_canonical_bytes_do_not_depend_on_key_order() -> None:
    reordered = dict(reversed(list(event().items())))
    assert canonical_entry(reordered) == canonical_entry(event())


def test_schema_lists_every_field_of_the_docs() -> None:
    assert set(event()) == set(FIELDS)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("v", 4, "unsupported schema version"),
        ("v", "1", "must be an integer"),
        ("event_id", "", "1-64 characters"),
        ("event_id", "a" * 65, "1-64 characters"),
        ("event_id", "-leading-dash", "starting with"),
        ("event_id", "has space", "1-64 characters"),
        ("traceparent", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "W3C traceparent"),
        ("traceparent", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "all-zero"),
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01", "all-zero"),
        ("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "lower case"),
        ("time_ms", -1, "between 0"),
        ("time_ms", 2**53, "between 0"),
        ("time_ms", 1.5, "must be an integer"),
        ("time_ms", True, "must be an integer"),
        ("caller_org", "Jinghua", "short name"),
        ("caller_org", "a" * 33, "short name"),
        ("caller_identity", "AB" * 32, "lower-case hex"),
        ("caller_identity", "ab" * 31, "lower-case hex"),
        ("method", "get", "must be one of"),
        ("route", "v1/no-slash", "starting with '/'"),
        ("route", "/with space", "starting with '/'"),
        ("route", "/crlf\r\nX-Forged: 1", "starting with '/'"),
        ("decision", "maybe", "'allow' or 'deny'"),
        ("status", 99, "HTTP status"),
        ("status", 600, "HTTP status"),
        ("gateway_id", "shuzhi-tech", "<org id>/<gateway name>"),
        ("gateway_id", "shuzhi-tech/gw/1", "<org id>/<gateway name>"),
        ("gateway_seq", 0, "between 1"),
        ("request_digest", None, "must not be null"),
    ],
)
def test_each_field_refuses_bad_values(field: str, value: Any, message: str) -> None:
    with pytest.raises(EventSchemaError) as info:
        validate_event(event(**{field: value}))
    assert info.value.errors[0]["loc"] == [field]
    assert message in info.value.errors[0]["msg"]


def test_all_problems_are_reported_at_once_with_their_location() -> None:
    bad = event(status=1000, caller_org="X", extra="field")
    del bad["api"]
    with pytest.raises(EventSchemaError) as info:
        validate_event(bad, ("events", 3))
    locs = {tuple(e["loc"]) for e in info.value.errors}
    assert locs == {("events", 3, "status"), ("events", 3, "caller_org"), ("events", 3, "extra"), ("events", 3, "api")}


def test_an_allowed_call_names_its_grant_and_a_denied_call_its_reason() -> None:
    with pytest.raises(EventSchemaError, match="must name its grant"):
        validate_event(event(grant_id=None))
    with pytest.raises(EventSchemaError, match="must be null when decision is 'allow'"):
        validate_event(event(denial_reason="no_grant"))
    with pytest.raises(EventSchemaError, match="must give its reason"):
        validate_event(event(decision="deny", status=403))
    grant = "0x" + "7" * 64
    denied = event(decision="deny", denial_reason="quota_exhausted", grant_id=grant, status=403, response_digest=None)
    assert validate_event(denied) == denied


@pytest.mark.parametrize("grant", [7, "7" * 64, "0x" + "7" * 63, "0x" + "A" * 64, "0x" + "7" * 65])
def test_a_grant_id_is_the_on_chain_id_in_lower_case_hex(grant: object) -> None:
    with pytest.raises(EventSchemaError, match="grant_id"):
        validate_event(event(grant_id=grant))


def test_an_event_must_be_an_object() -> None:
    values: tuple[Any, ...] = ([], "event", 3, None)
    for value in values:
        with pytest.raises(EventSchemaError, match="JSON object"):
            validate_event(value)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe",
        b"{",
        b"[]",
        json.dumps(event(), indent=1).encode(),  # valid event, not canonical
        json.dumps(event(), separators=(",", ":")).encode(),  # keys not sorted
        canonical_entry(event()).replace(b'"gateway_seq":1', b'"gateway_seq":1.0'),
    ],
)
def test_parse_entry_refuses_anything_but_a_canonical_valid_event(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_entry(data)


def test_gateway_org() -> None:
    assert gateway_org("jinghua-sec/gw-1") == "jinghua-sec"
    for bad in ("jinghua-sec", "/gw", "a/b/c", "UPPER/gw"):
        with pytest.raises(MalformedError):
            gateway_org(bad)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_parse_entry_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(MalformedError):
        parse_entry(data)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=2**53 - 1),
)
def test_canonical_form_is_stable_under_reparsing(text: str, number: int) -> None:
    """Whatever the strings (the schema refuses most, but the encoder must still be deterministic)."""
    obj = {"b": text, "a": number, "c": None}
    data = canonical_entry(obj)
    assert canonical_entry(json.loads(data)) == data


def test_only_a_ledger_query_of_the_explorer_may_be_allowed_without_a_grant() -> None:
    query = event(grant_id=None, center="explorer", unit="explorer", api="calls.search", gateway_id="acme/explorer")
    assert validate_event(query)["grant_id"] is None
    for changed in ({"center": "market"}, {"gateway_id": "acme/gateway"}):
        with pytest.raises(EventSchemaError, match="must name its grant"):
            validate_event({**query, **changed})


# -- the typed event ----------------------------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "event_id": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True),
            "time_ms": st.integers(0, 2**53 - 1),
            "route": st.from_regex(r"/[\x21-\x7e]{0,30}", fullmatch=True),
            "asset_id": st.none() | st.from_regex(r"[a-z0-9][a-z0-9._-]{0,10}", fullmatch=True),
            "asset_version": st.none() | st.integers(0, 2**53 - 1),
            "response_digest": st.none() | st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
            "status": st.integers(100, 599),
            "latency_us": st.integers(0, 2**53 - 1),
            "gateway_seq": st.integers(1, 2**53 - 1),
        }
    ),
    st.booleans(),
)
def test_the_typed_events_fast_entry_equals_the_reference_encoder(changes: dict[str, Any], denied: bool) -> None:
    if denied:
        changes.update(decision="deny", denial_reason="no_grant", grant_id=None)
    typed = Event.from_json(event(**changes))
    assert typed.to_entry() == canonical_entry(typed.to_json())
    assert Event.from_entry(typed.to_entry()) == typed
    assert typed.to_json() == event(**changes)


@settings(max_examples=200, deadline=None)
@given(_TEXT, _TEXT)
def test_the_fast_encoder_escapes_any_string_as_the_reference_does(api: str, route_tail: str) -> None:
    """``encode_entry`` does not validate: for any strings it writes what ``json.dumps`` would."""
    fields = event(api=api, unit=route_tail)
    fast = Event(**fields).to_entry()
    assert fast == canonical_entry(fields)
    assert json.loads(fast) == fields


def test_a_typed_event_refuses_what_the_schema_refuses() -> None:
    with pytest.raises(EventSchemaError, match="status"):
        Event.from_json(event(status=99))
    with pytest.raises(MalformedError, match="canonical form"):
        Event.from_entry(json.dumps(event()).encode())
    bad = Event(**event(status="200"))  # constructed without validation: the encoder still refuses the type
    with pytest.raises(ValueError):
        bad.to_entry()


def test_the_caller_identity_is_the_sha256_of_the_certificate_and_its_sm3_in_version_3() -> None:
    import hashlib

    from tests.support.sm3_reference import sm3

    der = bytes(range(256)) * 3  # stands for a certificate's DER
    assert caller_identity(der, 1) == caller_identity(der, 2) == hashlib.sha256(der).hexdigest()
    assert caller_identity(der, 3) == sm3(der).hex() != caller_identity(der, 2)
    for version in (0, 4):
        with pytest.raises(MalformedError, match=f"no caller identity for event schema version {version}"):
            caller_identity(der, version)
