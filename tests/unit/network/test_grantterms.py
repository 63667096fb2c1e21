"""The terms store of private grants: documents, refusals, and what ``refresh`` sees."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chain.contracts import PrivateTerms
from chain.errors import MalformedError
from network.grantterms import FORMAT, TermsRecord, TermsStore, new_record, terms_dir, with_grant_id

SALT = bytes(range(32))


def terms(purpose: str = "research", quota: int = 0, grantee: str = "beta") -> PrivateTerms:
    return PrivateTerms("book", "alpha", grantee, purpose, 1_000, 2_000, quota, SALT)


def test_a_document_round_trips_and_names_the_hashes() -> None:
    record = with_grant_id(new_record(terms(quota=5)), b"\x07" * 32)
    document = record.to_json()
    assert document["format"] == FORMAT
    assert document["key"] == "0x" + record.terms.key.hex()
    assert document["commitment"] == "0x" + record.terms.commitment.hex()
    assert TermsRecord.from_json(json.loads(json.dumps(document))) == record


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"format": "v0"}, "not a grant terms document", id="format"),
        pytest.param({"salt": "0x1234"}, "salt must be 32 bytes", id="short-salt"),
        pytest.param({"salt": "zz"}, "salt is not hex", id="hex"),
        pytest.param({"quota": "5"}, "expected an integer", id="quota-type"),
        pytest.param({"quota": True}, "expected an integer", id="quota-bool"),
        pytest.param({"grantee": "Beta!"}, "org id", id="grantee-name"),
        pytest.param({"quota": 6}, "do not hash to the document's commitment", id="commitment"),
        pytest.param({"purpose": "audit", "commitment": None}, "do not hash to the document's key", id="key"),
    ],
)
def test_a_document_is_refused(change: dict[str, Any], message: str) -> None:
    document = {**with_grant_id(new_record(terms(quota=5)), b"\x07" * 32).to_json(), **change}
    document = {k: v for k, v in document.items() if v is not None or k == "grant_id"}
    with pytest.raises(MalformedError, match=message):
        TermsRecord.from_json(document)


def test_a_document_without_a_field_is_refused() -> None:
    document = new_record(terms()).to_json()
    del document["expires_at"]
    with pytest.raises(MalformedError, match="lacks 'expires_at'"):
        TermsRecord.from_json(document)
    with pytest.raises(MalformedError):
        TermsRecord.from_json([document])


def test_the_store_finds_newest_first_and_follows_the_directory(tmp_path: Path) -> None:
    store = TermsStore(tmp_path, "alpha")
    assert store.records() == [] and store.salt_for("book", "beta", "research") is None
    old = TermsRecord(terms(quota=1), b"\x01" * 32, 100)
    new = TermsRecord(terms(quota=2), None, 200)
    other = TermsRecord(terms(purpose="audit"), None, 300)
    for record in (old, new, other):
        store.put(record)
    assert store.find("book", "beta", "research") == [new, old]
    assert store.salt_for("book", "beta", "research") == SALT
    assert store.by_grant(b"\x01" * 32) == old
    path = terms_dir(tmp_path, "alpha") / new.file_name
    assert path.stat().st_mode & 0o777 == 0o600

    reader = TermsStore(tmp_path, "alpha")  # another process, e.g. the gateway
    assert reader.records() == [other, new, old]
    assert reader.refresh() is False  # nothing changed
    store.remove(old)
    (terms_dir(tmp_path, "alpha") / "garbage.json").write_text("{not json")  # left out, with a warning
    assert reader.refresh() is True
    assert reader.find("book", "beta", "research") == [new]
    assert reader.find("book", "gamma", "research") == []
    assert TermsStore(tmp_path, "beta").records() == []  # another org's store
    imported = TermsStore(tmp_path, "beta")
    imported.put(new)
    assert imported.salt_for("book", "beta", "research") is None  # alpha's salt, not one for beta's own grants
    assert replace(new, grant_id=b"\x02" * 32).file_name == new.file_name  # the file is named by the commitment


def test_a_store_that_cannot_be_listed_keeps_what_it_read(tmp_path: Path) -> None:
    store = TermsStore(tmp_path, "alpha")
    store.put(new_record(terms()))
    folder = terms_dir(tmp_path, "alpha")
    folder.rename(tmp_path / "moved")
    folder.write_text("not a directory")  # listing it fails, and not because it is missing
    assert store.refresh() is False
    assert len(store.records()) == 1
