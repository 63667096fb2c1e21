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
   current version names on chain) when given; when it lists terms of the job's grant, ``GET
   <steps>/terms?grant=<grant id>`` too: the grant's own terms document, checked against the digest listed
   (``privacy.asset.terms_of_grant``), under which the job then runs and which its record names;
2. ``POST <steps>/request``: message 1; the answer, message 2, gives the intersection. Only this call counts as a
   run against the grant's quota, and the gateway refuses a request over ``max_input`` before forwarding it.
   The client waits for its answer as long as the owner's gateway waits for the owner's service
   (``privacy.psi.request_time_budget_s`` of ``max_input`` in the job's suite, or the client's own timeout if longer);
3. ``POST <steps>/record``: the record the client signed; the owner checks, countersigns and answers the record
   signed by both, which is checked here (both signatures, the owner's key if ``server_key`` is given).

``signing_key`` is the key the client signs the record with: the org's gateway key, whose public half
``consortium.json`` publishes (so an auditor checks the record's keys against the members' published keys). Its
type is the consortium's suite (``privacy.suites``): Ed25519 under ``intl``, SM2 under ``sm``, where the job runs
``ecdh-psi-sm2`` with SM2-signed records; terms of the other suite's protocol are refused before any run.
A refusal raises :class:`PsiRefusedError` with the step and the gateway's (or the owner's) answer. A step the
owner's service gave no answer to (the gateway's 502 ``upstream_unreachable``, 504 ``upstream_timeout`` or 503
``circuit_open``: the service stopped or was killed during the step), or whose answer broke off after its headers
(:class:`~sdk.client.AnswerCutOffError`: a large answer the gateway passes on as it arrives, cut by the service's
stop or on the way), is sent again, the same bytes, up to ``retries`` times, ``retry_wait_s`` apart (doubling each
time): the owner's service answers the same step the same and its gateway counts no run for the unanswered one
(``privacy.service``, ``gateway.psi``); so is a request step the gateway refuses 409 ``psi_run_in_flight`` (the same
request is still in flight there, sent earlier, on any replica: ``gateway.quota``).

The owner's side, from its consortium directory (``orgs/<org>/privacy/``, ``gateway.psi.terms_dir``), under the
suite ``consortium.json`` names: :func:`write_psi_terms` draws the asset's job-secret key (X25519, or SM2 under
``sm``) once (kept encrypted with the consortium passphrase) and writes
its terms document, whose SHA-256 the owner registers as the asset's metadata digest; :func:`open_psi_service`
builds the PSI service (``privacy.service``) that answers the steps behind the owner's gateway. ``consortium
privacy terms``/``serve`` and the demo (``demo.privacy``) use both.
"""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chain.ids import OrgId
from gateway.psi import TERMS_SUFFIX, grant_terms_dir, load_grant_terms, terms_dir
from network.description import FILENAME as DESCRIPTION_FILE
from network.description import load_description
from network.identity import IdentityError, load_gateway_key
from privacy.asset import (
    GRANT_QUERY,
    GRANT_SALT_BYTES,
    JOB_HEADER,
    PsiAssetTerms,
    PsiGrantTerms,
    Step,
    format_asset_terms,
    format_grant_terms,
    format_record_step,
    job_tag,
    parse_asset_terms,
    terms_digest,
    terms_of_grant,
)
from privacy.dp import check_budget, check_dp_terms, check_epsilon
from privacy.errors import MalformedError, PrivacyError
from privacy.jobfiles import (
    RECORD_STEP_FILE,
    format_record_step_file,
    party_files,
    record_step_of,
    write_job_files,
)
from privacy.psi import JobTerms, PsiClient, request_time_budget_s
from privacy.record import JOB_ID, SignedRecord, key_bytes, parse_signed_record, sign_record, verify_record
from privacy.service import PsiService
from privacy.suites import INTL, SM, KemKey, PsiSuite, SigningKey, check_same_suite, psi_suite
from sdk.client import AnswerCutOffError, CallResult, MemberClient, SdkError
from suite.errors import SuiteError
from suite.sm2 import SM2PrivateKey

__all__ = [
    "KEM_SUFFIX",
    "PsiJob",
    "PsiJobError",
    "PsiRefusedError",
    "PsiSetupError",
    "consortium_suite",
    "load_signing_key",
    "open_psi_service",
    "read_identifiers",
    "run_psi_job",
    "write_grant_terms",
    "write_psi_terms",
]

#: Beside ``<asset>.terms.json``: the asset's job-secret key (X25519, or SM2 under ``sm``), PKCS#8 encrypted with
#: the consortium passphrase (SM4-CBC for an SM2 key, ``suite.sm2``).
KEM_SUFFIX = ".kem.pem"


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


#: The reasons of a gateway's answer for a step the owner's service did not answer: the same step may be sent again.
NO_ANSWER: Final = frozenset({"upstream_unreachable", "upstream_timeout", "circuit_open"})
#: The owner's gateway's refusal of a request step whose same bytes are in flight there (409, sent again later).
IN_FLIGHT: Final = "psi_run_in_flight"


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
    #: privacy.jobfiles: record.json, vrf-key.json, input.set.json, result.set.json, and record-step.json (the
    #: record step's event id, and the client's notary URL if it has one) when the gateway named the event
    files: dict[str, bytes]
    event_ids: dict[str, str] = field(default_factory=dict)  # step → the gateway's event id

    @property
    def tag(self) -> str:
        """The job's tag, which each step's event names (``privacy.asset.job_tag``): the explorer's job page."""
        return job_tag(self.signed.record.grant_id, self.job_id)


def run_psi_job(
    client: MemberClient,
    gateway_url: str,
    steps: str,
    *,
    org: str,
    purpose: str,
    grant_id: str,
    identifiers: Sequence[str],
    signing_key: SigningKey,
    metadata_digest: bytes | None = None,
    server_key: bytes | None = None,
    job_id: str | None = None,
    suite: str | None = None,
    retries: int = 0,
    retry_wait_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> PsiJob:
    """Run one job (module docstring); raises :class:`PsiRefusedError`, :class:`PsiJobError` or the SDK's
    :class:`~sdk.client.TransportError`, and the privacy core's ``InputTooLargeError`` for an input over the cap.
    ``suite`` is the consortium's (``consortium.json``'s ``crypto``); by default the signing key's. A step the owner's
    service did not answer, or whose answer broke off after its headers, is sent again up to ``retries`` times, after
    ``sleep(retry_wait_s)``, doubled each time; with none left, a cut raises :class:`~sdk.client.AnswerCutOffError`."""
    if retries < 0 or retry_wait_s < 0:
        raise ValueError("retries and retry_wait_s are counts and seconds, not negative")
    psi = psi_suite(suite) if suite is not None else (SM if isinstance(signing_key, SM2PrivateKey) else INTL)
    try:
        client_public = psi.public_key(signing_key)
    except PrivacyError as exc:
        raise PsiJobError(f"the client's signing key: {exc}") from exc
    events: dict[str, str] = {}
    job_id = job_id or f"psi-{uuid.uuid4().hex}"
    if JOB_ID.match(job_id) is None:
        raise MalformedError(f"job id {job_id!r} must match {JOB_ID.pattern}")
    tag = job_tag(grant_id, job_id)  # each step names it, so the owner's gateway records it in the step's event

    def call(
        step: Step, method: str, content: bytes | None = None, timeout: float | None = None, query: str | None = None
    ) -> CallResult:
        headers = {JOB_HEADER: tag}
        if content is not None:
            headers["Content-Type"] = "application/octet-stream"
        params = {GRANT_QUERY: query} if query is not None else None
        for attempt in range(retries + 1):
            if attempt:
                sleep(retry_wait_s * 2 ** (attempt - 1))
            try:
                result = client.call(
                    gateway_url, method, f"{steps}/{step}", purpose=purpose, params=params, content=content,
                    headers=headers, timeout=timeout,
                )  # fmt: skip
            except AnswerCutOffError:  # the answer broke off mid-body: the same step gets the same answer
                if attempt == retries:
                    raise
                continue
            if result.denial_reason == IN_FLIGHT:  # the same step is in flight at the gateway: answered later
                continue
            if result.status not in (502, 503, 504) or _reason(result) not in NO_ANSWER:
                break
        if result.event_id:
            events[step if query is None else f"{step}-grant"] = result.event_id
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
    try:
        check_same_suite(psi, terms.suite, f"the PSI terms of {terms.asset} (protocol {terms.protocol})")
    except PrivacyError as exc:
        raise PsiJobError(str(exc)) from exc
    own = None  # the grant's own terms, when the asset's terms (checked against the chain above) list some for it
    if terms.grant_digest(grant_id) is not None:
        own = call("terms", "GET", query=grant_id).content
    try:
        view = terms_of_grant(terms, grant_id, own)
    except PrivacyError as exc:
        raise PsiJobError(f"the terms of grant {grant_id}: {exc}") from exc
    terms = view.terms
    job = JobTerms(
        job_id, grant_id, purpose, terms.max_input, terms.dp_epsilon, terms.dp_inputs, suite=psi,
        dp_budget=terms.dp_budget, terms_digest=view.digest,
    )  # fmt: skip
    client_psi = PsiClient(job, org, client_public, identifiers, terms.kem_key)
    # the owner computes for a while before it answers: wait as long as the owner's gateway does
    wait = max(client.timeout, request_time_budget_s(terms.max_input, psi))
    response = call("request", "POST", client_psi.request(), wait).content
    try:
        outcome = client_psi.finish(response)
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
        verify_record(signed, client_public, record.server.signing_key)
    except PrivacyError as exc:
        raise PsiJobError(f"the countersigned record does not verify: {exc}") from exc
    assert key_bytes(client_public) == record.client.signing_key
    files = party_files("client", signed, client_psi.committed, outcome.result)
    if "record" in events:  # where the record step is in the log, for prove-member to fetch its evidence
        # an id no gateway gives (it names no event of the log) is not kept: the job's files are, without it
        with contextlib.suppress(PrivacyError):
            files[RECORD_STEP_FILE] = format_record_step_file(
                record_step_of(signed, events["record"], client.notary_url)
            )
    return PsiJob(job.job_id, terms, outcome.intersection, signed, files, events)


class PsiSetupError(SdkError):
    """A party's PSI files cannot be used: the owner's missing or unreadable terms document, key or identifier file;
    or job files that cannot make the disclosure asked (``sdk.disclosure.make_disclosure``)."""


def read_identifiers(path: Path) -> list[str]:
    """One identifier per line; blank lines and lines starting with ``#`` are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PsiSetupError(f"cannot read the identifiers in {path}: {exc}") from exc
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _load_kem(path: Path, passphrase: bytes, suite: PsiSuite = INTL) -> KemKey:
    """The asset's job-secret key of ``suite``; PsiSetupError for a key of the other suite or an unreadable file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PsiSetupError(f"cannot read the job-secret key in {path}: {exc}") from exc
    if suite is SM:
        try:
            return SM2PrivateKey.from_pem(data, passphrase)
        except SuiteError as exc:
            raise PsiSetupError(
                f"{path} does not hold an SM2 key this passphrase opens (the consortium runs the sm suite): {exc}"
            ) from exc
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except (ValueError, TypeError) as exc:
        raise PsiSetupError(f"cannot read the X25519 key in {path} (the intl suite): {exc}") from exc
    if not isinstance(key, X25519PrivateKey):
        raise PsiSetupError(f"{path} does not hold an X25519 key (the consortium runs the intl suite)")
    return key


def _kem_pem(key: KemKey, passphrase: bytes) -> bytes:
    if isinstance(key, SM2PrivateKey):
        return key.to_pem(passphrase)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(passphrase)
    )


def consortium_suite(directory: Path) -> PsiSuite:
    """The suite of the consortium in ``directory``: ``consortium.json``'s ``crypto`` (``privacy.suites``)."""
    return psi_suite(load_description(directory).crypto)


def load_signing_key(directory: Path, org: str, passphrase: bytes) -> SigningKey:
    """``org``'s gateway key, which signs its job records, of the consortium's suite (Ed25519 or SM2); a key of the
    other suite raises PsiSetupError."""
    crypto = load_description(directory).crypto
    try:
        key = load_gateway_key(directory, OrgId(org), passphrase, crypto)
    except IdentityError as exc:
        raise PsiSetupError(str(exc)) from exc
    assert isinstance(key, Ed25519PrivateKey | SM2PrivateKey)
    return key


def write_psi_terms(
    directory: Path,
    org: str,
    asset: str,
    max_input: int,
    steps: str,
    passphrase: bytes,
    dp_epsilon: str | None = None,
    dp_budget: str | None = None,
    dp_inputs: bool = False,
    crypto: str | None = None,
) -> tuple[Path, bytes]:
    """Write the PSI terms document of ``org``'s identifier set ``asset`` (``privacy.asset``) and return its path
    and bytes, under the suite ``crypto`` (default: ``consortium.json``'s in ``directory``, ``intl`` for a directory
    that holds none); with ``dp_epsilon`` the log holds each job's result count only as ε-differentially private, with
    ``dp_inputs`` each party's input count too, and ``dp_budget`` bounds the ε the jobs of one grant spend. The
    X25519 key is drawn on the first call and kept (a second call with other terms keeps the key, so clients that
    sealed to it are not cut off by a change of cap)."""
    try:  # before a key is drawn: a refused ε or budget leaves the folder as it was
        if dp_epsilon is not None:
            check_epsilon(dp_epsilon, "--dp-epsilon")
        if dp_budget is not None:
            check_budget(dp_budget, "--dp-budget")
        if dp_epsilon is None and (dp_budget is not None or dp_inputs):
            raise PsiSetupError("--dp-budget and --dp-inputs need --dp-epsilon: they are about the noisy counts")
        check_dp_terms(dp_epsilon, dp_budget, dp_inputs)
    except PrivacyError as exc:
        raise PsiSetupError(str(exc)) from exc
    if crypto is None and not (directory / DESCRIPTION_FILE).is_file():
        crypto = INTL.name
    try:
        suite = psi_suite(crypto) if crypto is not None else consortium_suite(directory)
    except PrivacyError as exc:
        raise PsiSetupError(str(exc)) from exc
    folder = terms_dir(directory, org)
    key_path = folder / f"{asset}{KEM_SUFFIX}"
    if key_path.exists():
        kem = _load_kem(key_path, passphrase, suite)
    else:
        kem = suite.generate_kem()
        write_job_files(folder, {key_path.name: _kem_pem(kem, passphrase)})
    path = folder / f"{asset}{TERMS_SUFFIX}"
    grants: tuple[tuple[str, bytes], ...] = ()
    if path.exists():  # the grants' own terms stay listed
        grants = _read_asset_terms(directory, org, asset)[1].grants
    try:
        document = format_asset_terms(
            PsiAssetTerms(
                asset, org, suite.protocol, max_input, suite.kem_public(kem), steps, dp_epsilon, dp_budget,
                dp_inputs, grants,
            )
        )  # fmt: skip
    except PrivacyError as exc:
        raise PsiSetupError(str(exc)) from exc
    path = folder / f"{asset}{TERMS_SUFFIX}"
    path.write_bytes(document)
    return path, document


def _read_asset_terms(directory: Path, org: str, asset: str) -> tuple[Path, PsiAssetTerms]:
    path = terms_dir(directory, org) / f"{asset}{TERMS_SUFFIX}"
    try:
        return path, parse_asset_terms(path.read_bytes())
    except OSError as exc:
        raise PsiSetupError(
            f"no PSI terms of {asset} at {path}: write them with `consortium privacy terms {asset} --as {org}`"
        ) from exc
    except PrivacyError as exc:
        raise PsiSetupError(f"{path}: {exc}") from exc


def write_grant_terms(
    directory: Path,
    org: str,
    asset: str,
    grant_id: str,
    grantee: str | None,
    max_input: int | None = None,
    dp_epsilon: str | None = None,
    dp_budget: str | None = None,
    dp_inputs: bool = False,
) -> tuple[Path, bytes]:
    """Give grant ``grant_id`` of ``org``'s identifier set ``asset`` terms of its own (``privacy.asset``): write the
    grant's terms document (``orgs/<org>/privacy/<asset>.grants/<grant id>.terms.json``, a fresh salt) and list its
    SHA-256 in the asset's terms document; with ``max_input`` None, remove them (the grant runs under the asset's
    terms again). Returns the asset's terms document's path and new bytes, whose SHA-256 the owner publishes as the
    asset's next metadata digest. The grant's protocol is the asset's. Whether the grant is of ``asset`` and
    ``grantee``'s is the caller's to check against the chain (``consortium privacy grant-terms`` does)."""
    path, terms = _read_asset_terms(directory, org, asset)
    folder = grant_terms_dir(directory, org, asset)
    grant_path = folder / f"{grant_id}{TERMS_SUFFIX}"
    if max_input is None:
        if terms.grant_digest(grant_id) is None:
            raise PsiSetupError(f"grant {grant_id} has no terms of its own on {asset}")
        document = format_asset_terms(terms.with_grant(grant_id, None))
        write_job_files(path.parent, {path.name: document})
        grant_path.unlink(missing_ok=True)
        return path, document
    if grantee is None:
        raise PsiSetupError("a grant's own terms name its grantee")
    try:
        own = PsiGrantTerms(
            asset, grant_id, grantee, terms.protocol, max_input, secrets.token_bytes(GRANT_SALT_BYTES), dp_epsilon,
            dp_budget, dp_inputs,
        )  # fmt: skip
    except PrivacyError as exc:
        raise PsiSetupError(str(exc)) from exc
    grant_document = format_grant_terms(own)
    document = format_asset_terms(terms.with_grant(grant_id, terms_digest(grant_document)))
    # the grant's document first: an asset's document never lists a digest whose document is not there
    write_job_files(folder, {grant_path.name: grant_document})
    write_job_files(path.parent, {path.name: document})
    return path, document


def open_psi_service(
    directory: Path,
    org: str,
    asset: str,
    identifiers: Sequence[str],
    passphrase: bytes,
    jobs_dir: Path | None = None,
) -> PsiService:
    """The owner's PSI service of ``asset`` from its files in ``directory``: the terms document, the X25519 key,
    ``org``'s gateway key (which signs the job records) and the members' published keys (``consortium.json``),
    against which it checks each record's client key. Job files go to ``jobs_dir`` (default
    ``orgs/<org>/privacy/jobs``), with the notary's URL that ``consortium.json`` records, if any, in each job's
    ``record-step.json``."""
    path, terms = _read_asset_terms(directory, org, asset)
    folder = path.parent
    description = load_description(directory)
    suite = psi_suite(description.crypto)
    try:
        check_same_suite(suite, terms.suite, f"the PSI terms in {path}")
    except PrivacyError as exc:
        raise PsiSetupError(str(exc)) from exc
    try:
        return PsiService(
            terms,
            load_signing_key(directory, org, passphrase),
            _load_kem(folder / f"{asset}{KEM_SUFFIX}", passphrase, suite),
            identifiers,
            jobs_dir or folder / "jobs",
            grant_terms=load_grant_terms(directory, org, asset),
            member_keys={m.org: m.identity.gateway_public_key for m in description.members},
            notary_url=description.notary_url,
        )
    except PrivacyError as exc:
        raise PsiSetupError(str(exc)) from exc
