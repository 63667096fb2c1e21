"""The explorer's notary client parses evidence bundles at its edge: a genuine bundle is kept once complete, a
malformed one is an ApiError naming the field (the provenance shows it as a failed link)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from explorer.errors import MalformedEvidenceError, NotaryAnswerError
from explorer.notary_client import NotaryClient
from notary.bundle import (
    AnchorEvidence,
    AnchorProofs,
    AnchorTransaction,
    EvidenceBundle,
    EvidenceCheckpoint,
    EvidenceInclusion,
    EvidenceReceipt,
    NoSeals,
)
from notary.readauth import ReadAccess, Reader, SignedReads

RECEIPT = EvidenceReceipt("ev-1", "test/log", 3, b"\x01" * 32, 1_795_000_000_000, 10, "note\n", (b"\x02" * 32,))
BUNDLE = EvidenceBundle(
    origin="test/log",
    event_id="ev-1",
    index=3,
    entry=b'{"event_id":"ev-1"}',
    leaf_hash=b"\x01" * 32,
    receipt=RECEIPT,
    checkpoint=EvidenceCheckpoint(8, "test/log\n8\nroot\n", ("alpha", "reg")),
    inclusion=EvidenceInclusion(8, (b"\x03" * 32, b"\x04" * 32, b"\x05" * 32)),
    anchor=AnchorEvidence(
        chain_id=20261,
        contract="0xaAaAaAaaAaAaAaaAaAAAAAAAAaaaAaAaAaaAaaAa",
        size=8,
        transaction=AnchorTransaction(b"\x06" * 32, b"\x02\xc0", 0),
        block=AnchorProofs(7, b"\x07" * 32, b"\xc0", (b"\xc2\x80\x80",), b"\x02\xc0", (b"\xc2\x80\x80",)),
        seals=NoSeals("anvil"),
    ),
    pending=(),
)


def client_answering(answers: dict[str, Any]) -> tuple[NotaryClient, list[str]]:
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        answer = answers.get(request.url.path)
        return httpx.Response(404, json={"error": "not_found"}) if answer is None else httpx.Response(200, json=answer)

    client = NotaryClient("http://notary.test")
    client.http = httpx.Client(base_url="http://notary.test", transport=httpx.MockTransport(handle))
    return client, asked


def test_a_bundle_is_parsed_and_kept_once_complete() -> None:
    client, asked = client_answering({"/v1/evidence/ev-1": BUNDLE.to_json()})
    assert client.evidence("ev-1") == BUNDLE
    assert client.evidence("ev-1") == BUNDLE
    assert asked == ["/v1/evidence/ev-1"]


def test_a_malformed_bundle_names_the_field() -> None:
    data = BUNDLE.to_json()
    inclusion = data["inclusion"]
    assert inclusion is not None
    inclusion["proof"][1] = "AAAA"
    client, _ = client_answering({"/v1/evidence/ev-1": data})
    with pytest.raises(MalformedEvidenceError, match=r"inclusion\.proof\[1\]") as raised:
        client.evidence("ev-1")
    assert raised.value.event_id == "ev-1"


def test_another_status_is_an_answer_error() -> None:
    client = NotaryClient("http://notary.test")
    client.http = httpx.Client(
        base_url="http://notary.test", transport=httpx.MockTransport(lambda _: httpx.Response(500))
    )
    with pytest.raises(NotaryAnswerError):
        client.evidence("ev-1")


def test_with_auth_every_request_is_signed_as_the_explorer() -> None:
    key = Ed25519PrivateKey.generate()
    access = ReadAccess({"op": key.public_key().public_bytes_raw()}, {}, regulators=(), trusted=("op/explorer",))
    readers: list[Reader] = []

    def handle(request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode("ascii")
        readers.append(access.authenticate(request.method, target, request.headers))
        return httpx.Response(200, json={"gaps": [], "last_seq": {"op/explorer": 4}})

    client = NotaryClient("http://notary.test", auth=SignedReads("op/explorer", key))
    client.http = httpx.Client(
        base_url="http://notary.test", transport=httpx.MockTransport(handle), auth=client.http.auth
    )
    assert client.gateways() == [{"gateway": "op/explorer", "last_seq": 4, "gaps": 0}]
    assert [(r.name, r.trusted) for r in readers] == [("op/explorer", True)]
