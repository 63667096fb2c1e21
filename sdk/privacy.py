"""Run a private set intersection job against an owner's gateway: the client side of ``privacy.psi`` as calls.

The owner of an identifier set publishes its PSI terms (``privacy.asset``: protocol, ``max_input``, its X25519
key, the steps' base route) as the metadata of the asset on chain, and runs the PSI service behind its gateway.
A member holding a grant of the asset for a purpose runs a job with :func:`run_psi_job`::

    with MemberClient.from_directory(directory, "beta", name="client", passphrase=pw) as client:
        job = run_psi_job(client, "https://alpha-gateway:9443", "/v1/privacy/customer-ids", org="beta",
                          purpose="aml-screening", grant_id="0x…", identifiers=ids, signing_key=key,
                          metadata_digest=digest_on_chain, server_key=alpha_published_key)
        print(len(job.intersection), job.event_ids)
        write_job_files(Path("jobs") / job.job_id, job.files)

Three calls, each authenticated, decided against the grant and recorded by the owner's gateway:

1. ``GET <steps>/terms``: the terms document, checked against ``metadata_digest`` (the SHA-256 the asset's
   current version names on chain) when given;
2. ``POST <steps>/request``: message 1; the answer, message 2, gives the intersection. Only this call counts as a
   run against the grant's quota, and the gateway refuses a request over ``max_input`` before forwarding it;
3. ``POST <steps>/record``: the record the client signed; the owner checks, countersigns and answers the record
   signed by both, which is checked here (both signatures, the owner's key if ``server_key`` is given).

``signing_key`` is the Ed25519 key the client signs the record with: the org's gateway key, whose public half
``consortium.json`` publishes (so an auditor checks the record's keys against the members' published keys).
A refusal raises :class:`PsiRefusedError` with the step and the gateway's (or the owner's) answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from privacy.asset import (
    PsiAssetTerms,
    Step,
    format_record_step,
    parse_asset_terms,
    terms_digest,
)
from privacy.errors import PrivacyError
from privacy.jobfiles import party_files
from privacy.psi import PROTOCOL, JobTerms, PsiClient
from privacy.record import SignedRecord, key_bytes, parse_signed_record, sign_record, verify_record
from sdk.client import CallResult, MemberClient, SdkError

__all__ = ["PsiJob", "PsiJobError", "PsiRefusedError", "run_psi_job"]


class PsiJobError(SdkError):
    """A job that cannot go on: terms that do not match the chain, an answer that fails a check."""


class PsiRefusedError(PsiJobError):
    """A step the gateway or the owner's service refused; ``result`` is its answer (status, reason, event id)."""

    def __init__(self, step: Step, result: CallResult) -> None:
        reason = result.denial_reason or _reason(result)
        super().__init__(
            f"the {step} step was refused with {result.status} {reason or ''}".rstrip()
            + (f" ({result.denial_detail})" if result.denial_detail else "")
            + (f", event {result.event_id}" if result.event_id else "")
        )
        self.step = step
        self.result = result
        self.reason = reason


def _reason(result: CallResult) -> str | None:
    try:
        body = result.json()
    except (ValueError, UnicodeDecodeError):
        return None
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason if isinstance(reason, str) else None


@dataclass(frozen=True)
class PsiJob:
    """A finished job, at the client."""

    job_id: str
    terms: PsiAssetTerms
    intersection: tuple[str, ...]
    signed: SignedRecord
    files: dict[str, bytes]  # privacy.jobfiles: record.json, vrf-key.json, input.set.json, result.set.json
    event_ids: dict[str, str] = field(default_factory=dict)  # step → the gateway's event id


def run_psi_job(
    client: MemberClient,
    gateway_url: str,
    steps: str,
    *,
    org: str,
    purpose: str,
    grant_id: str,
    identifiers: Sequence[str],
    signing_key: Ed25519PrivateKey,
    metadata_digest: bytes | None = None,
    server_key: bytes | None = None,
    job_id: str | None = None,
) -> PsiJob:
    """Run one job (module docstring); raises :class:`PsiRefusedError`, :class:`PsiJobError` or the SDK's
    :class:`~sdk.client.TransportError`, and the privacy core's ``InputTooLargeError`` for an input over the cap."""
    events: dict[str, str] = {}

    def call(step: Step, method: str, content: bytes | None = None) -> CallResult:
        headers = {"Content-Type": "application/octet-stream"} if content is not None else None
        result = client.call(gateway_url, method, f"{steps}/{step}", purpose=purpose, content=content, headers=headers)
        if result.event_id:
            events[step] = result.event_id
        if result.status != 200:
            raise PsiRefusedError(step, result)
        return result

    document = call("terms", "GET").content
    if metadata_digest is not None and terms_digest(document) != metadata_digest:
        raise PsiJobError(
            "the owner's PSI terms are not the ones the asset's metadata digest on chain names: "
            f"sha256 {terms_digest(document).hex()}, on chain {metadata_digest.hex()}"
        )
    try:
        terms = parse_asset_terms(document)
    except PrivacyError as exc:
        raise PsiJobError(f"the owner's PSI terms do not parse: {exc}") from exc
    if terms.protocol != PROTOCOL:
        raise PsiJobError(f"the asset's protocol is {terms.protocol!r}; this client speaks {PROTOCOL!r}")
    job = JobTerms(job_id or f"psi-{uuid.uuid4().hex}", grant_id, purpose, terms.max_input)
    psi = PsiClient(job, org, signing_key.public_key(), identifiers, X25519PublicKey.from_public_bytes(terms.kem_key))
    response = call("request", "POST", psi.request()).content
    try:
        outcome = psi.finish(response)
    except PrivacyError as exc:
        raise PsiJobError(f"the owner's response fails a check: {exc}") from exc
    record = outcome.record
    if record.server.org != terms.org:
        raise PsiJobError(f"the response names server {record.server.org!r}, not the asset's owner {terms.org!r}")
    if server_key is not None and record.server.signing_key != server_key:
        raise PsiJobError(f"the response names a signing key that {terms.org} does not publish")
    client_signature = sign_record(record, "client", signing_key)
    answer = call("record", "POST", format_record_step(record, client_signature)).content
    try:
        signed = parse_signed_record(answer)
        if signed.record != record or signed.client_signature != client_signature:
            raise PsiJobError("the countersigned record is not the record this client signed")
        verify_record(signed, signing_key.public_key(), Ed25519PublicKey.from_public_bytes(record.server.signing_key))
    except PrivacyError as exc:
        raise PsiJobError(f"the countersigned record does not verify: {exc}") from exc
    assert key_bytes(signing_key.public_key()) == record.client.signing_key
    files = party_files("client", signed, psi.committed, outcome.result)
    return PsiJob(job.job_id, terms, outcome.intersection, signed, files, events)
