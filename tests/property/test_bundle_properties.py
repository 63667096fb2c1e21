"""Property tests of the evidence bundle codec (``notary.bundle``): every bundle round-trips both ways, its JSON
is exactly what the notary's API model writes, and garbage in any field is a MalformedError naming the field,
never a KeyError or TypeError; the part-by-part parse agrees with the strict one."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notary.bundle import (
    FORMAT,
    FORMAT_V1,
    FORMATS,
    AnchorBlock,
    AnchorEvidence,
    AnchorProofs,
    AnchorTransaction,
    BundleParts,
    EvidenceBundle,
    EvidenceCheckpoint,
    EvidenceInclusion,
    EvidenceReceipt,
    NoSeals,
    Pending,
    Seals,
)
from notary.bundleschema import Evidence
from notary.log.errors import MalformedError

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

counts = st.integers(min_value=0, max_value=2**63)
texts = st.text(max_size=40)
hashes = st.binary(min_size=32, max_size=32)
blobs = st.binary(max_size=200)
addresses = st.binary(min_size=20, max_size=20)


def tuples(elements: st.SearchStrategy[Any], max_size: int = 6) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(elements, max_size=max_size).map(tuple)


receipts = st.builds(
    EvidenceReceipt,
    event_id=texts,
    origin=texts,
    index=counts,
    leaf_hash=hashes,
    time_ms=counts,
    mmd_s=counts,
    batch_note=texts,
    batch_proof=tuples(hashes),
)
checkpoints = st.builds(EvidenceCheckpoint, size=counts, note=texts, cosigners=tuples(texts))
inclusions = st.builds(EvidenceInclusion, size=counts, proof=tuples(hashes))
seals = st.one_of(
    st.builds(Seals, format=texts, round=counts, seals=counts, validators=tuples(addresses)),
    st.builds(NoSeals, note=texts),
)
blocks: dict[str, st.SearchStrategy[Any]] = {
    FORMAT_V1: st.builds(
        AnchorBlock, number=counts, hash=hashes, header=blobs, transactions=tuples(blobs), receipts=tuples(blobs)
    ),
    FORMAT: st.builds(
        AnchorProofs,
        number=counts,
        hash=hashes,
        header=blobs,
        transaction_proof=tuples(blobs),
        receipt=blobs,
        receipt_proof=tuples(blobs),
    ),
}


def anchors(format: str) -> st.SearchStrategy[AnchorEvidence]:
    return st.builds(
        AnchorEvidence,
        chain_id=counts,
        contract=texts,
        size=counts,
        transaction=st.builds(AnchorTransaction, hash=hashes, raw=blobs, index=counts),
        block=blocks[format],
        seals=seals,
    )


pendings = st.lists(st.builds(Pending, part=st.sampled_from(["checkpoint", "anchor"]), reason=texts), max_size=2)
bundles = st.sampled_from(FORMATS).flatmap(
    lambda format: st.builds(
        EvidenceBundle,
        origin=texts,
        event_id=texts,
        index=counts,
        entry=st.binary(max_size=400),
        leaf_hash=hashes,
        receipt=receipts,
        checkpoint=st.none() | checkpoints,
        inclusion=st.none() | inclusions,
        anchor=st.none() | anchors(format),
        pending=pendings.map(tuple),
        format=st.just(format),
    )
)

#: JSON values of every kind, to put where a field's value was.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON value (dict keys and list positions)."""
    found: list[tuple[Any, ...]] = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    for key, value in items:
        found.append((*prefix, key))
        found += paths(value, (*prefix, key))
    return found


def set_at(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


def delete_at(obj: Any, path: tuple[Any, ...]) -> None:
    for key in path[:-1]:
        obj = obj[key]
    del obj[path[-1]]


@FAST
@given(bundles)
def test_a_bundle_round_trips_through_its_json(bundle: EvidenceBundle) -> None:
    data = bundle.to_json()
    assert EvidenceBundle.from_json(data) == bundle
    assert EvidenceBundle.from_json(json.loads(json.dumps(data))) == bundle
    assert data["format"] == bundle.format in FORMATS


@FAST
@given(bundles)
def test_the_json_round_trips_byte_for_byte(bundle: EvidenceBundle) -> None:
    text = json.dumps(bundle.to_json(), indent=1)  # as the explorer's exports write it, keys in the API's order
    again = EvidenceBundle.from_json(json.loads(text)).to_json()
    assert json.dumps(again, indent=1) == text
    assert json.dumps(again, sort_keys=True) == json.dumps(json.loads(text), sort_keys=True)


@FAST
@given(bundles)
def test_the_json_is_what_the_api_model_writes(bundle: EvidenceBundle) -> None:
    data = bundle.to_json()
    written = Evidence.model_validate(data).model_dump(mode="json")
    assert json.dumps(written) == json.dumps(data)  # same keys, same order, same values


@FAST
@given(bundles)
def test_the_parts_of_a_bundle_are_its_parts(bundle: EvidenceBundle) -> None:
    assert BundleParts.from_json(bundle.to_json()) == BundleParts.of(bundle)


@FAST
@given(bundles, st.data())
def test_garbage_in_any_field_is_malformed_and_names_it(bundle: EvidenceBundle, data: st.DataObject) -> None:
    original = bundle.to_json()
    path = data.draw(st.sampled_from(paths(original)))
    changed = copy.deepcopy(original)
    if data.draw(st.booleans(), label="delete"):
        delete_at(changed, path)
    else:
        set_at(changed, path, data.draw(json_values, label="value"))
    try:
        parsed = EvidenceBundle.from_json(changed)
    except MalformedError as exc:
        named = [str(k) for k in path if isinstance(k, str)]
        assert named[-1] in str(exc) or path[-1] == "format", (path, str(exc))
        BundleParts.from_json(changed)  # the part-by-part parse keeps the error, it does not raise
        return
    assert parsed.to_json() == changed  # accepted only when it is another canonical bundle


@FAST
@given(json_values)
def test_anything_that_is_not_a_bundle_is_malformed(value: Any) -> None:
    try:
        EvidenceBundle.from_json(value)
    except MalformedError:
        return
    raise AssertionError(f"accepted {value!r}")
