"""The disclosure document: one disclosure proof as a file an auditor receives and checks offline.

Format ``consortium-ledger/privacy-disclosure/v1``; the bytes are RFC 8785 canonical JSON and one line feed
(:func:`parse_document` also takes them without it, and nothing else); byte strings are standard base64 with
padding (RFC 4648 §4)::

    {
      "format": "consortium-ledger/privacy-disclosure/v1",
      "record": base64 of the signed job record's bytes (privacy.record.format_signed_record),
      "record_sha256": base64 of the SHA-256 of those bytes (what an auditor holding the record compares),
      "claim": {"job_id": "...", "party": "client" | "server", "set": "input" | "result",
                "identifier": "<normal form>", "member": true | false},
      "vrf": {"output": base64 (64 bytes, beta), "proof": base64 (80 bytes, pi)},
      "leaves": [{"index": i, "value": base64 (64 bytes), "path": [base64 (32 bytes), ...]}, ...]
    }

Under the national suite (the record's protocol ``ecdh-psi-sm2``, ``privacy.suites``) beta and the leaves are
32 bytes and pi 81 (ECVRF-SM2-SM3-SSWU), the paths are over SM3 and the record's signatures SM2.

``leaves`` holds one leaf (member), or the neighbours below and above the identifier's VRF output (non-member;
one at an end of the tree, none for an empty set), each with its RFC 9162 inclusion proof. Only the client
commits to a result, so ``server`` with ``result`` is refused. :func:`verify_document` checks the record's
digest (and, if given, that it is the auditor's own copy), both signatures under the keys the record names, and
the disclosure (``privacy.disclosure.verify_disclosure``) against the commitment the record holds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Final

from privacy import _json
from privacy.asset import job_tag
from privacy.disclosure import (
    PARTIES,
    SETS,
    CommittedSet,
    DisclosureProof,
    LeafProof,
    Party,
    SetName,
    prove_disclosure,
    verify_disclosure,
)
from privacy.errors import DisclosureError, MalformedError, RecordMismatchError
from privacy.record import JOB_ID, SignedRecord, format_signed_record, parse_signed_record, verify_record

FORMAT: Final = "consortium-ledger/privacy-disclosure/v1"
MAX_DOCUMENT_BYTES: Final = 64 * 1024
#: An RFC 9162 inclusion proof in a tree of fewer than 2^64 leaves has fewer than 64 hashes.
MAX_PATH: Final = 64
_MAX_IDENTIFIER: Final = 128


@dataclass(frozen=True, slots=True)
class DisclosureDocument:
    """A disclosure proof with the signed record it is checked against."""

    record: SignedRecord
    record_sha256: bytes
    proof: DisclosureProof
    output: bytes  # beta(X), which verify_document recomputes from the proof


@dataclass(frozen=True, slots=True)
class ProvenClaim:
    """What a verified document establishes, and under which record and keys."""

    job_id: str
    org: str  # the org whose set it is (the client's for the result)
    party: Party
    set: SetName
    identifier: str
    member: bool
    record_sha256: bytes
    client_key: bytes
    server_key: bytes

    def sentence(self) -> str:
        verb = "was" if self.member else "was not"
        if self.set == "result":
            return f"identifier {self.identifier} {verb} in the result of job {self.job_id} (committed by {self.org})"
        return f"identifier {self.identifier} {verb} in {self.org}'s input of job {self.job_id}"


def record_digest(signed: SignedRecord) -> bytes:
    """SHA-256 of the signed record's bytes, as ``record_sha256`` names it."""
    return hashlib.sha256(format_signed_record(signed)).digest()


def prove_document(
    signed: SignedRecord, committed: CommittedSet, party: Party, set_name: SetName, identifier: str
) -> DisclosureDocument:
    """The document, made by the holder of ``committed``, of whether ``identifier`` is in it."""
    if committed.job_id != signed.record.job_id:
        raise MalformedError(f"the set is of job {committed.job_id}, the record of job {signed.record.job_id}")
    if committed.commitment != signed.record.commitment(party, set_name):
        raise MalformedError(f"this is not the {party}'s {set_name} that the record of job {committed.job_id} names")
    proof = prove_disclosure(committed, party, set_name, identifier)
    output = verify_disclosure(proof, committed.commitment)
    return DisclosureDocument(signed, record_digest(signed), proof, output)


def verify_document(document: DisclosureDocument, record: bytes | None = None) -> ProvenClaim:
    """What ``document`` proves; ``record`` is the auditor's own copy of the signed record's bytes, if it has one.

    Raises RecordMismatchError (another record), SignatureError (a signature under the keys the record names),
    DisclosureError (the claim is not established) or MalformedError (``record`` is not a signed record).
    """
    signed, proof = document.record, document.proof
    calculated = record_digest(signed)
    if calculated != document.record_sha256:
        raise RecordMismatchError(
            document.record_sha256, calculated, "the document's record does not have the digest the document names"
        )
    if record is not None:
        parse_signed_record(record)
        if hashlib.sha256(record).digest() != calculated:
            raise RecordMismatchError(
                hashlib.sha256(record).digest(),
                calculated,
                f"the document refers to record {calculated.hex()[:16]}.., not to the record given "
                f"({hashlib.sha256(record).hexdigest()[:16]}..)",
            )
    job = signed.record
    keys = (job.client.signing_key, job.server.signing_key)
    verify_record(signed, *keys)  # with the suite the record's protocol names (privacy.suites)
    if proof.job_id != job.job_id:
        raise DisclosureError(proof.claim, f"the claim is about job {proof.job_id}, the record about {job.job_id}")
    beta = verify_disclosure(proof, job.commitment(proof.party, proof.set))
    if beta != document.output:
        raise DisclosureError(proof.claim, "vrf.output is not the output the VRF proof gives")
    org = job.client.org if proof.set == "result" else job.party(proof.party).org
    return ProvenClaim(proof.job_id, org, proof.party, proof.set, proof.identifier, proof.member, calculated, *keys)


def format_document(document: DisclosureDocument) -> bytes:
    """The document's bytes (module docstring)."""
    proof = document.proof
    return _json.format_document(
        {
            "format": FORMAT,
            "record": _json.to_b64(format_signed_record(document.record)),
            "record_sha256": _json.to_b64(document.record_sha256),
            "claim": {
                "job_id": proof.job_id,
                "party": proof.party,
                "set": proof.set,
                "identifier": proof.identifier,
                "member": proof.member,
            },
            "vrf": {"output": _json.to_b64(document.output), "proof": _json.to_b64(proof.vrf_proof)},
            "leaves": [
                {"index": leaf.index, "value": _json.to_b64(leaf.value), "path": [_json.to_b64(h) for h in leaf.path]}
                for leaf in proof.leaves
            ],
        }
    )


def parse_document(data: bytes) -> DisclosureDocument:
    """The document in ``data``; raises MalformedError naming the first field that is wrong. Checks nothing."""
    top = _json.fields(
        _json.parse_document(data, "disclosure", FORMAT, MAX_DOCUMENT_BYTES),
        "disclosure",
        {"format", "record", "record_sha256", "claim", "vrf", "leaves"},
    )
    claim = _json.fields(top["claim"], "claim", {"job_id", "party", "set", "identifier", "member"})
    party = _json.choice(claim["party"], "claim.party", PARTIES)
    set_name = _json.choice(claim["set"], "claim.set", SETS)
    if (party, set_name) == ("server", "result"):
        raise MalformedError("claim: only the client commits to the result; the server has no result set")
    identifier = _json.text(claim["identifier"], "claim.identifier")
    if len(identifier) > _MAX_IDENTIFIER:
        raise MalformedError(f"claim.identifier: longer than {_MAX_IDENTIFIER} characters")
    vrf = _json.fields(top["vrf"], "vrf", {"output", "proof"})
    try:
        record = parse_signed_record(_json.from_b64(top["record"], "record"))
    except MalformedError as exc:
        raise MalformedError(f"record: {exc}") from exc
    suite = record.record.suite  # the sizes of the VRF's output and proof are the record's suite's
    OUTPUT_SIZE, PROOF_SIZE = suite.vrf_output_size, suite.vrf_proof_size
    leaves = []
    for i, item in enumerate(_json.array(top["leaves"], "leaves", 2)):
        loc = f"leaves[{i}]"
        leaf = _json.fields(item, loc, {"index", "value", "path"})
        path = _json.array(leaf["path"], f"{loc}.path", MAX_PATH)
        leaves.append(
            LeafProof(
                index=_json.uint(leaf["index"], f"{loc}.index"),
                value=_json.from_b64(leaf["value"], f"{loc}.value", OUTPUT_SIZE),
                path=tuple(_json.from_b64(h, f"{loc}.path[{j}]", 32) for j, h in enumerate(path)),  # type: ignore[misc]
            )
        )
    proof = DisclosureProof(
        job_id=_json.text(claim["job_id"], "claim.job_id", JOB_ID),
        party=party,  # type: ignore[arg-type]
        set=set_name,  # type: ignore[arg-type]
        identifier=identifier,
        member=_json.boolean(claim["member"], "claim.member"),
        vrf_proof=_json.from_b64(vrf["proof"], "vrf.proof", PROOF_SIZE),
        leaves=tuple(leaves),
    )
    return DisclosureDocument(
        record=record,
        record_sha256=_json.from_b64(top["record_sha256"], "record_sha256", 32),
        proof=proof,
        output=_json.from_b64(vrf["output"], "vrf.output", OUTPUT_SIZE),
    )


@dataclass(frozen=True)
class Binding:
    """One check that an event is the record step of a disclosure's job: ``name``, whether it passed, and why."""

    name: str
    ok: bool
    detail: str


def disclosure_binding(signed: SignedRecord, record_sha256: bytes, entry: bytes) -> list[Binding]:
    """Whether the log entry ``entry`` (an evidence bundle's, verified) is the event of the record step of the job
    ``signed`` records, whose bytes hash to ``record_sha256``: an allowed step naming a record (``psi_record``) that
    is this one, called by the record's client firm at the gateway of its server firm (``provider_org``: the
    notary takes a gateway's events only as its own firm's), under the job's tag (``psi_job``, over the grant id
    and the job id). Every check is made, each failure named."""
    try:
        event = json.loads(entry)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [Binding("event", False, f"the bundle's entry is not JSON: {exc}")]
    if not isinstance(event, dict):
        return [Binding("event", False, "the bundle's entry is not a JSON object")]
    job = signed.record
    named = event.get("psi_record")
    decision = event.get("decision")
    if decision != "allow":
        step = f"event {event.get('event_id')!r} was not allowed (decision {decision!r}): not a record step"
    elif not isinstance(named, str):
        step = f"event {event.get('event_id')!r} names no record (psi_record): not the record step of a PSI job"
    else:
        step = f"event {event.get('event_id')!r} is an allowed record step of a PSI job"
    if named == record_sha256.hex():
        same = f"the event names the record's SHA-256 {record_sha256.hex()}"
    else:
        names = "no record" if named is None else f"the record {named}"
        same = (
            f"the event names {names}, not this record ({record_sha256.hex()}): the document's record is not the "
            "one the owner's gateway logged"
        )
    checks = [
        Binding("event", decision == "allow" and isinstance(named, str), step),
        Binding("psi_record", named == record_sha256.hex(), same),
    ]
    tag = job_tag(job.grant_id, job.job_id)
    for name, field, want, who in (
        ("caller", "caller_org", job.client.org, "the record's client"),
        ("provider", "provider_org", job.server.org, "the record's server"),
        ("job", "psi_job", tag, f"the tag of job {job.job_id} under grant {job.grant_id}"),
    ):
        found = event.get(field)
        ok = found == want
        detail = f"{field} {found} is {who}" if ok else f"{field} {found!r} is not {who} ({want})"
        checks.append(Binding(name, ok, detail))
    return checks
