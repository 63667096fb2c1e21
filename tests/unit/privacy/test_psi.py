"""privacy.psi and privacy.record: a whole job in process, the cap, and every tampered record field refused."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from privacy.disclosure import prove_disclosure, verify_disclosure
from privacy.errors import InputTooLargeError, MalformedError, RefusedError, SignatureError
from privacy.psi import (
    IMPLEMENTATION,
    MAX_HEADER_BYTES,
    JobTerms,
    PsiClient,
    PsiOutcome,
    PsiServer,
    inspect_request,
    max_request_bytes,
)
from privacy.record import (
    JobRecord,
    SignedRecord,
    format_record,
    format_signed_record,
    parse_record,
    parse_signed_record,
    sign_record,
    verify_record,
)

TERMS = JobTerms("job-7", "0x" + "3f" * 32, "aml-screening", 400)
CLIENT_KEY, SERVER_KEY = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
KEM = X25519PrivateKey.generate()
CLIENT_IDS = [f"acct:c{n}" for n in range(170)] + [f"acct:s{n}" for n in range(30)]  # 200, 30 shared
SERVER_IDS = [f"acct:s{n}" for n in range(300)]


@pytest.fixture(scope="module")
def job() -> Iterator[tuple[PsiClient, PsiServer, PsiOutcome, SignedRecord]]:
    client = PsiClient(TERMS, "alpha", CLIENT_KEY.public_key(), CLIENT_IDS, KEM.public_key())
    server = PsiServer(TERMS, "beta", SERVER_KEY.public_key(), SERVER_IDS, KEM)
    outcome = client.finish(server.respond(client.request()))
    server.check_record(outcome.record)
    signed = SignedRecord(
        outcome.record,
        sign_record(outcome.record, "client", CLIENT_KEY),
        sign_record(outcome.record, "server", SERVER_KEY),
    )
    yield client, server, outcome, signed


def test_intersection_is_exact(job: tuple[PsiClient, PsiServer, PsiOutcome, SignedRecord]) -> None:
    _, _, outcome, signed = job
    assert outcome.intersection == tuple(sorted(f"ACCT:S{n}" for n in range(30)))
    record = verify_record(signed, CLIENT_KEY.public_key(), SERVER_KEY.public_key())
    assert (record.client.input.count, record.server.input.count, record.result_count) == (200, 300, 30)
    assert record.implementation == IMPLEMENTATION and record.purpose == "aml-screening"
    assert parse_signed_record(format_signed_record(signed)) == signed
    assert parse_record(format_record(record)) == record


def test_disclosure_against_the_record(job: tuple[PsiClient, PsiServer, PsiOutcome, SignedRecord]) -> None:
    client, server, outcome, signed = job
    record = signed.record
    for committed, role, set_name, x, member in [
        (outcome.result, "client", "result", "ACCT:S3", True),
        (outcome.result, "client", "result", "ACCT:C3", False),
        (client.committed, "client", "input", "ACCT:C3", True),
        (server.committed, "server", "input", "ACCT:S299", True),
        (server.committed, "server", "input", "ACCT:C3", False),
    ]:
        proof = prove_disclosure(committed, role, set_name, x)  # type: ignore[arg-type]
        assert proof.member is member
        verify_disclosure(proof, record.commitment(proof.party, proof.set))


def _variants(obj: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    """Every leaf field of the record JSON, changed to another valid value."""
    assert isinstance(obj, dict)
    for key, value in obj.items():
        if isinstance(value, dict):
            yield from _variants(value, (*path, key))
        elif key == "v":
            continue
        elif isinstance(value, int):
            yield (*path, key), value + 1
        elif key == "grant_id":
            yield (*path, key), "0x" + "40" * 32
        elif len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            yield (*path, key), ("1" if value[0] != "1" else "2") + value[1:]
        else:
            yield (*path, key), value + "x"


def test_every_tampered_field_is_refused(job: tuple[PsiClient, PsiServer, PsiOutcome, SignedRecord]) -> None:
    _, server, _, signed = job
    original = signed.record.to_json()
    count = 0
    for path, value in _variants(original):
        changed = json.loads(json.dumps(original))
        node = changed
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        tampered = dataclasses.replace(signed, record=JobRecord.from_json(changed))
        with pytest.raises(SignatureError):
            verify_record(tampered, CLIENT_KEY.public_key(), SERVER_KEY.public_key())
        if path[0] not in ("result",):
            with pytest.raises(RefusedError):
                server.check_record(tampered.record)
        count += 1
    assert count == 20
    with pytest.raises(SignatureError):
        verify_record(signed, SERVER_KEY.public_key(), SERVER_KEY.public_key())
    swapped = dataclasses.replace(signed, client_signature=signed.server_signature)
    with pytest.raises(SignatureError):
        verify_record(swapped, CLIENT_KEY.public_key(), SERVER_KEY.public_key())
    with pytest.raises(MalformedError):
        parse_record(format_record(signed.record) + b" ")


def test_over_cap_refused() -> None:
    small = JobTerms("job-8", TERMS.grant_id, TERMS.purpose, 10)
    with pytest.raises(InputTooLargeError) as refused:
        PsiClient(small, "alpha", CLIENT_KEY.public_key(), [f"acct:{n}" for n in range(11)], KEM.public_key())
    assert (refused.value.count, refused.value.cap, refused.value.reason) == (11, 10, "input_over_cap")
    # a client that claims to fit the cap of a larger job is refused by a server under the small cap
    big = JobTerms("job-8", TERMS.grant_id, TERMS.purpose, 20)
    client = PsiClient(big, "alpha", CLIENT_KEY.public_key(), [f"acct:{n}" for n in range(11)], KEM.public_key())
    server = PsiServer(small, "beta", SERVER_KEY.public_key(), ["acct:1"], KEM)
    with pytest.raises(RefusedError):
        server.respond(client.request())
    # the same client against a server holding the larger cap but the request edited to claim a smaller size
    server_big = PsiServer(big, "beta", SERVER_KEY.public_key(), ["acct:1"], KEM)
    request = client.request()
    assert server_big.respond(request)
    size = int.from_bytes(request[:4], "big")
    header = request[4 : 4 + size].replace(b'"count":11', b'"count":9')
    lying = len(header).to_bytes(4, "big") + header + request[4 + size :]
    with pytest.raises(RefusedError, match="another number of elements"):
        server_big.respond(lying)


def test_a_request_of_max_input_identifiers_fits_the_body_limit_its_terms_give(
    job: tuple[PsiClient, PsiServer, PsiOutcome, SignedRecord],
) -> None:
    # the job's client holds 200 identifiers; a request is its header and 35 bytes an identifier, plus 2
    client = job[0]
    request = client.request()
    header_bytes = int.from_bytes(request[:4], "big")
    assert len(request) == 4 + header_bytes + 35 * len(CLIENT_IDS) + 2
    assert header_bytes < MAX_HEADER_BYTES
    assert len(request) <= max_request_bytes(len(CLIENT_IDS)) < len(request) + MAX_HEADER_BYTES
    # a full request (as many identifiers as the terms allow) fits too, and one more identifier would not
    full = PsiClient(TERMS, "alpha", CLIENT_KEY.public_key(), [f"acct:f{n}" for n in range(400)], KEM.public_key())
    message = full.request()
    assert inspect_request(message).count == TERMS.max_input
    assert max_request_bytes(TERMS.max_input) - MAX_HEADER_BYTES < len(message) <= max_request_bytes(TERMS.max_input)
    assert max_request_bytes(TERMS.max_input + 1) == max_request_bytes(TERMS.max_input) + 35


def test_foreign_server_key_and_response_refused() -> None:
    client = PsiClient(TERMS, "alpha", CLIENT_KEY.public_key(), ["acct:1"], X25519PrivateKey.generate().public_key())
    server = PsiServer(TERMS, "beta", SERVER_KEY.public_key(), ["acct:1"], KEM)
    with pytest.raises(MalformedError, match="sealed job secret"):
        server.respond(client.request())
    other = PsiClient(TERMS, "alpha", CLIENT_KEY.public_key(), ["acct:1"], KEM.public_key())
    response = server.respond(other.request())
    with pytest.raises(RefusedError, match="another request"):
        client.finish(response)
