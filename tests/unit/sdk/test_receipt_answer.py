"""The SDK's receipt: the notary's receipt JSON is parsed into a typed ``EvidenceReceipt``, the same value as an
evidence bundle's receipt, and a receipt with one field corrupted is refused with a ``NotaryResponseError``
naming that field. The receipts are real (a signed batch note and the paths into the batch), built in process;
nothing is served."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.bundle import EvidenceReceipt
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import NoteSigner, NoteVerifier, public_bytes
from notary.receipt import BatchStatement, batch_receipts, sign_batch, verify_receipt
from sdk import NotaryResponseError, parse_receipt

ORIGIN = "example.test/audit-log"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)


def receipt_json() -> dict[str, Any]:
    """The notary's JSON of the second receipt of a batch of three committed at index 40."""
    leaves = [hash_leaf(f"entry {i}".encode()) for i in range(3)]
    statement = BatchStatement(ORIGIN, 40, 3, root_of(leaves), 1_765_000_000_000, 60)
    note = sign_batch(NoteSigner(ORIGIN, LOG_KEY), statement)
    return dict(batch_receipts(["ev-a", "ev-b", "ev-c"], 40, leaves, note)[1].to_json())  # to tamper with


def test_a_receipt_parses_into_the_typed_value_and_writes_back_the_same_json() -> None:
    document = receipt_json()
    receipt = parse_receipt(document)
    assert isinstance(receipt, EvidenceReceipt)
    assert (receipt.event_id, receipt.origin, receipt.index, receipt.mmd_s) == ("ev-b", ORIGIN, 41, 60)
    assert receipt.time_ms == 1_765_000_000_000 and len(receipt.leaf_hash) == 32 and len(receipt.batch_proof) == 2
    assert receipt.to_json() == document
    statement = verify_receipt(receipt.receipt(), NoteVerifier(ORIGIN, public_bytes(LOG_KEY.public_key())))
    assert (statement.first, statement.count) == (40, 3)


#: One field of a real receipt corrupted, and what the error says (the field it names).
CORRUPTED = [
    ("index", "41", "receipt.index must be a non-negative integer, got '41'"),
    ("index", -1, "receipt.index must be a non-negative integer, got -1"),
    ("index", True, "receipt.index must be a non-negative integer, got True"),
    ("time_ms", 1.5, "receipt.time_ms must be a non-negative integer, got 1.5"),
    ("mmd_s", None, "receipt.mmd_s must be a non-negative integer, got None"),
    ("event_id", 7, "receipt.event_id must be text, got int"),
    ("origin", None, "receipt.origin must be text, got null"),
    ("batch_note", ["note"], "receipt.batch_note must be text, got list"),
    ("leaf_hash", "not base64!", "receipt.leaf_hash is not valid base64"),
    ("leaf_hash", "AAAA", "receipt.leaf_hash must be 32 bytes, got 3"),
    ("batch_proof", "AAAA", "receipt.batch_proof must be a list, got str"),
]


@pytest.mark.parametrize(("field", "value", "message"), CORRUPTED, ids=[f"{f}={v!r}" for f, v, _ in CORRUPTED])
def test_a_corrupted_field_is_refused_naming_the_field(field: str, value: object, message: str) -> None:
    document = receipt_json()
    document[field] = value
    with pytest.raises(NotaryResponseError) as refused:
        parse_receipt(document)
    assert str(refused.value) == f"the notary's receipt is malformed: {message}"
    assert refused.value.status == 200  # the notary answered 200 with a receipt that does not parse


def test_a_corrupted_path_hash_names_its_position() -> None:
    document = receipt_json()
    document["batch_proof"][1] = document["batch_proof"][1][:-4]
    with pytest.raises(NotaryResponseError, match=r"receipt\.batch_proof\[1\] must be 32 bytes, got 30$"):
        parse_receipt(document)


def test_a_missing_or_unknown_field_is_named() -> None:
    missing = receipt_json()
    del missing["leaf_hash"]
    with pytest.raises(NotaryResponseError, match=r"malformed: missing the field\(s\) receipt\.leaf_hash$"):
        parse_receipt(missing)
    grown = copy.deepcopy(receipt_json()) | {"signature": "x"}
    with pytest.raises(NotaryResponseError, match=r"malformed: receipt has unknown field\(s\) signature$"):
        parse_receipt(grown)
    with pytest.raises(NotaryResponseError, match="malformed: receipt must be a JSON object, got list"):
        parse_receipt([receipt_json()])
