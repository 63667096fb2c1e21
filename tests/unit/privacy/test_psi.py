"""privacy.psi and privacy.record: a whole job in process, the cap, and every tampered record field refused, under
both suites (``privacy.suites``: ``intl`` over openmined.psi, ``sm`` over the SM2 curve with SM2-signed records)."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from privacy.disclosure import prove_disclosure, verify_disclosure
from privacy.errors import InputTooLargeError, MalformedError, RefusedError, SignatureError, SuiteMismatchError
from privacy.psi import (
    IMPLEMENTATIONS,
    MAX_HEADER_BYTES,
    JobTerms,
    PsiClient,
    PsiOutcome,
    PsiServer,
    _format_message,
    _parse_message,
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
from privacy.suites import INTL, SM, KemKey, PsiSuite, SigningKey, psi_suite
from suite.sm2 import SM2PrivateKey

CLIENT_IDS = [f"acct:c{n}" for n in range(170)] + [f"acct:s{n}" for n in range(30)]  # 200, 30 shared
SERVER_IDS = [f"acct:s{n}" for n in range(300)]


@dataclass(frozen=True)
class Keys:
    """One suite's terms and keys: the parties' signing keys and the owner's job-secret key."""

    suite: PsiSuite
    terms: JobTerms
    client: SigningKey
    server: SigningKey
    kem: KemKey

    def signing(self) -> SigningKey:
        return Ed25519PrivateKey.generate() if self.suite is INTL else SM2PrivateKey.generate()

    def kem_public(self, key: KemKey | None = None) -> bytes:
        return self.suite.kem_public(key or self.kem)


@functools.cache
def _keys(name: str) -> Keys:
    suite = psi_suite(name)
    signing = Ed25519PrivateKey.generate if suite is INTL else SM2PrivateKey.generate
    terms = JobTerms("job-7", "0x" + "3f" * 32, "aml-screening", 400, suite=suite)
    return Keys(suite, terms, signing(), signing(), suite.generate_kem())


@pytest.fixture(scope="module", params=["intl", "sm"])
def keys(request: pytest.FixtureRequest) -> Keys:
    return _keys(request.param)


@pytest.fixture(scope="module")
def job(keys: Keys) -> Iterator[tuple[PsiClient, PsiServer, PsiOutcome, SignedRecord]]:
    pub = keys.suite.public_key
    client = PsiClient(keys.terms, "alpha", pub(keys.client), CLIENT_IDS, keys.kem_public())
    server = PsiServer(keys.terms, "beta", pub(keys.server), SERVER_IDS, keys.kem)
    outcome = client.finish(server.respond(client.request()))
    server.check_record(outcome.record)
    signed = SignedRecord(
        outcome.record,
        sign_record(outcome.record, "client", keys.client),
        sign_record(outcome.record, "server", keys.server),
    )
    yield client, server, outcome, signed


def test_intersection_is_exact(keys: Keys, job: tuple[PsiClient, PsiServer, PsiOutcome, SignedRecord]) -> None:
    _, _, outcome, signed = job
    assert outcome.intersection == tuple(sorted(f"ACCT:S{n}" for n in range(30)))
    pub = keys.suite.public_key
    record = verify_record(signed, pub(keys.client), pub(keys.server))
    assert (record.client.input.count, record.server.input.count, record.result_count) == (200, 300, 30)
    assert record.implementation == IMPLEMENTATIONS[keys.suite.name] and record.purpose == "aml-screening"
    assert record.protocol == keys.suite.protocol and record.suite is keys.suite
    assert len(record.client.signing_key) == keys.suite.signing_key_size
    assert len(record.client.input.vrf_key) == keys.suite.vrf_public_size
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
        elif key == "protocol":  # another suite's protocol: test_a_record_of_another_suite_is_refused
            continue
        elif len(value) in (64, 66, 130) and all(c in "0123456789abcdef" for c in value):
            yield (*path, key), ("1" if value[0] != "1" else "2") + value[1:]
        else:
            yield (*path, key), value + "x"


def test_every_tampered_field_is_refused(
    keys: Keys, job: tuple[PsiClient, PsiServer, PsiOutcome, SignedRecord]
) -> None:
    _, server, _, signed = job
    client_key, server_key = keys.suite.public_key(keys.client), keys.suite.public_key(keys.server)
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
            verify_record(tampered, client_key, server_key)
        if path[0] not in ("result",):
            with pytest.raises(RefusedError):
                server.check_record(tampered.record)
        count += 1
    assert count == 19
    with pytest.raises(SignatureError):
        verify_record(signed, server_key, server_key)
    swapped = dataclasses.replace(signed, client_signature=signed.server_signature)
    with pytest.raises(SignatureError):
        verify_record(swapped, client_key, server_key)
    with pytest.raises(MalformedError):
        parse_record(format_record(signed.record) + b" ")


def test_a_record_of_another_suite_is_refused(
    keys: Keys, job: tuple[PsiClient, PsiServer, PsiOutcome, SignedRecord]
) -> None:
    signed = job[3]
    other = SM if keys.suite is INTL else INTL
    changed = signed.record.to_json()
    changed["protocol"] = other.protocol  # the keys stay those of the job's suite
    with pytest.raises(MalformedError, match=f"a key of the {other.name} suite"):
        JobRecord.from_json(changed)
    changed["protocol"] = "ecdh-psi-p384"
    with pytest.raises(MalformedError, match="unknown PSI protocol"):
        JobRecord.from_json(changed)
    # a party's key of the other suite cannot sign the record, nor sit in a job of this suite
    foreign = _keys(other.name)
    with pytest.raises(SuiteMismatchError, match=f"the key is of the {other.name} suite"):
        sign_record(signed.record, "client", foreign.client)
    with pytest.raises(SuiteMismatchError, match="does not mix them"):
        PsiClient(keys.terms, "alpha", other.public_key(foreign.client), ["acct:1"], keys.kem_public())
    with pytest.raises(SuiteMismatchError, match="does not mix them"):
        PsiClient(keys.terms, "alpha", keys.suite.public_key(keys.client), ["acct:1"], foreign.kem_public())
    with pytest.raises(SuiteMismatchError):
        PsiServer(keys.terms, "beta", keys.suite.public_key(keys.server), ["acct:1"], foreign.kem)
    # a request of the other suite's job is refused by this suite's server
    theirs = PsiClient(foreign.terms, "alpha", other.public_key(foreign.client), ["acct:1"], foreign.kem_public())
    server = PsiServer(keys.terms, "beta", keys.suite.public_key(keys.server), ["acct:1"], keys.kem)
    with pytest.raises(RefusedError, match="does not mix them") as refused:
        server.respond(theirs.request())
    assert refused.value.reason == "wrong_suite"


def test_over_cap_refused(keys: Keys) -> None:
    TERMS, pub, KEM = keys.terms, keys.suite.public_key, keys.kem
    small = JobTerms("job-8", TERMS.grant_id, TERMS.purpose, 10, suite=keys.suite)
    with pytest.raises(InputTooLargeError) as refused:
        PsiClient(small, "alpha", pub(keys.client), [f"acct:{n}" for n in range(11)], keys.kem_public())
    assert (refused.value.count, refused.value.cap, refused.value.reason) == (11, 10, "input_over_cap")
    # a client that claims to fit the cap of a larger job is refused by a server under the small cap
    big = JobTerms("job-8", TERMS.grant_id, TERMS.purpose, 20, suite=keys.suite)
    client = PsiClient(big, "alpha", pub(keys.client), [f"acct:{n}" for n in range(11)], keys.kem_public())
    server = PsiServer(small, "beta", pub(keys.server), ["acct:1"], KEM)
    with pytest.raises(RefusedError):
        server.respond(client.request())
    # the same client against a server holding the larger cap but the request edited to claim a smaller size
    server_big = PsiServer(big, "beta", pub(keys.server), ["acct:1"], KEM)
    request = client.request()
    assert server_big.respond(request)
    size = int.from_bytes(request[:4], "big")
    header = request[4 : 4 + size].replace(b'"count":11', b'"count":9')
    lying = len(header).to_bytes(4, "big") + header + request[4 + size :]
    with pytest.raises(RefusedError, match="another number of elements"):
        server_big.respond(lying)


def test_a_request_of_max_input_identifiers_fits_the_body_limit_its_terms_give(
    keys: Keys, job: tuple[PsiClient, PsiServer, PsiOutcome, SignedRecord]
) -> None:
    TERMS, pub = keys.terms, keys.suite.public_key
    # 35 bytes an identifier and 2 (intl: a protobuf-tagged P-256 point); 33 and the 4-byte count (sm)
    element, extra = (35, 2) if keys.suite is INTL else (33, 4)
    # the job's client holds 200 identifiers; a request is its header and 35 bytes an identifier, plus 2
    client = job[0]
    request = client.request()
    header_bytes = int.from_bytes(request[:4], "big")
    assert len(request) == 4 + header_bytes + element * len(CLIENT_IDS) + extra
    assert header_bytes < MAX_HEADER_BYTES
    assert len(request) <= max_request_bytes(len(CLIENT_IDS)) < len(request) + MAX_HEADER_BYTES
    # a full request (as many identifiers as the terms allow) fits too, and one more identifier would not
    full = PsiClient(TERMS, "alpha", pub(keys.client), [f"acct:f{n}" for n in range(400)], keys.kem_public())
    message = full.request()
    assert inspect_request(message).count == TERMS.max_input
    assert max_request_bytes(TERMS.max_input) - MAX_HEADER_BYTES < len(message) <= max_request_bytes(TERMS.max_input)
    assert max_request_bytes(TERMS.max_input + 1) == max_request_bytes(TERMS.max_input) + 35


def test_foreign_server_key_and_response_refused(keys: Keys) -> None:
    TERMS, pub, KEM = keys.terms, keys.suite.public_key, keys.kem
    other_kem = keys.kem_public(keys.suite.generate_kem())
    client = PsiClient(TERMS, "alpha", pub(keys.client), ["acct:1"], other_kem)
    server = PsiServer(TERMS, "beta", pub(keys.server), ["acct:1"], KEM)
    with pytest.raises(MalformedError, match="sealed job secret"):
        server.respond(client.request())
    other = PsiClient(TERMS, "alpha", pub(keys.client), ["acct:1"], keys.kem_public())
    response = server.respond(other.request())
    with pytest.raises(RefusedError, match="another request"):
        client.finish(response)


def test_an_sm_request_padded_past_its_claim_is_refused_before_its_points_are_decoded() -> None:
    """The count of points is compared with the header's claim first: padding that is no point at all (``ff`` bytes,
    which decoding would refuse as ``invalid_point``) still gives ``count_mismatch``."""
    terms = JobTerms("job-pad", "0x" + "00" * 32, "aml-screening", 50, suite=SM)
    kem = SM.generate_kem()
    client = PsiClient(
        terms, "alpha", SM.public_key(SM2PrivateKey.generate()), ["acct:1", "acct:2"], SM.kem_public(kem)
    )
    server = PsiServer(terms, "beta", SM.public_key(SM2PrivateKey.generate()), ["acct:1"], kem)
    header, payload = _parse_message(client.request(), "request")
    padded = _format_message(header, (40).to_bytes(4, "big") + payload[4:] + b"\xff" * (38 * 33))
    with pytest.raises(RefusedError, match="another number of elements") as refused:
        server.respond(padded)
    assert refused.value.reason == "count_mismatch"
