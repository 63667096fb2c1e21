"""Disclosures from a finished PSI job's files, and their check: ``privacy.document`` for a member firm's code.

After a job (:func:`sdk.privacy.run_psi_job`, ``consortium privacy run``) each party keeps its job files
(``privacy.jobfiles``). From them it proves to an auditor that one identifier was, or was not, in its input or in
the result, and binds the proof to the audit log with the evidence bundle of the job's record step::

    disclosure = make_disclosure(Path("jobs") / job_id, "ACCT:S17", set_name="result", member=True)
    with MemberClient.from_directory(directory, "beta", name="client", passphrase=pw) as client:
        disclosure = fetch_record_evidence(client, disclosure, wait_s=30)   # once anchored on chain
    disclosure.write(Path("s17.json"), evidence=Path("s17.evidence.json"))

    report = verify_disclosure(Path("s17.json"), evidence=json.loads(Path("s17.evidence.json").read_text()),
                               description=load_description(directory), job_id=job_id, identifier="ACCT:S17")
    print(report.to_text())

:func:`make_disclosure` is ``consortium privacy prove-member`` without ``--as``; :func:`fetch_record_evidence` is
its ``--as``: the bundle of the event the job files' ``record-step.json`` keeps (or ``event_id``), fetched through
the client's notary once anchored, and checked to be this job's record step (``privacy.document.disclosure_binding``).
:func:`verify_disclosure` is ``consortium verify disclosure``: the document's record and signatures, the proof,
and with ``evidence`` the bundle checked as :meth:`MemberClient.verify` checks it, then bound to the record; its
:class:`DisclosureReport` holds the same lines the command prints. Both commands call these.

Errors, all :class:`~sdk.client.SdkError`: :class:`~sdk.privacy.PsiSetupError` for job files that cannot make the
disclosure asked (unreadable, not job files, of two jobs or runs, of another job than ``job_id``, no such set, an
identifier that does not normalise, or not in the set when ``member=True``: none is written);
:class:`~sdk.client.VerificationFailedError` carrying the :class:`DisclosureReport` for a document that proves
nothing, evidence that does not verify or is of another event than the record step, and a claim other than the
one expected; :class:`~sdk.client.EvidenceNotReadyError`, :class:`~sdk.client.TransportError` and
:class:`~sdk.client.NotaryResponseError` from the notary.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notary.bundle import EvidenceBundle
from notary.errors import MalformedError as BundleMalformedError
from notary.verify import Step, TrustRoots, passed
from privacy.disclosure import SETS, SetName
from privacy.document import (
    DisclosureDocument,
    ProvenClaim,
    disclosure_binding,
    format_document,
    parse_document,
    prove_document,
    verify_document,
)
from privacy.errors import PrivacyError
from privacy.identifiers import normalise_identifier
from privacy.jobfiles import RECORD_STEP_FILE, RecordStepFile, read_job_files
from sdk.client import EvidenceNotReadyError, MemberClient, StepsReport, VerificationFailedError, VerificationReport
from sdk.privacy import PsiSetupError

if TYPE_CHECKING:
    from chain.backend import ClientTls
    from network.description import ConsortiumDescription
    from network.witnesskeys import ChainWitnessKeys

__all__ = [
    "Disclosure",
    "DisclosureReport",
    "LoggedRecord",
    "fetch_record_evidence",
    "make_disclosure",
    "verify_disclosure",
]


# -- making ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Disclosure:
    """A disclosure made from a party's job files: the document, the claim it proves (checked as an auditor checks
    it), the job files' ``record-step.json`` if there was one, and the record step's evidence once fetched."""

    document: DisclosureDocument
    claim: ProvenClaim
    record_step: RecordStepFile | None = None
    evidence: EvidenceBundle | None = None

    @property
    def summary(self) -> str:
        """What the document proves, e.g. ``membership proof: identifier ACCT:S17 was in the result of job job-42``."""
        kind, verb = ("membership", "was") if self.claim.member else ("non-membership", "was not")
        return f"{kind} proof: identifier {self.claim.identifier} {verb} in {_where(self.claim)}"

    @property
    def data(self) -> bytes:
        """The document's bytes (``consortium-ledger/privacy-disclosure/v1``), what an auditor receives."""
        return format_document(self.document)

    def write(self, path: Path, *, evidence: Path | None = None) -> None:
        """Write the document to ``path`` and, with ``evidence``, the record step's bundle there
        (:meth:`write_evidence`); ValueError for ``evidence`` before it is fetched, nothing written."""
        if evidence is not None and self.evidence is None:
            raise ValueError("no evidence to write: fetch it first (fetch_record_evidence)")
        Path(path).write_bytes(self.data)
        if evidence is not None:
            self.write_evidence(evidence)

    def write_evidence(self, path: Path) -> None:
        """Write the record step's evidence bundle to ``path``: its JSON, for ``consortium verify disclosure
        --evidence`` and :func:`verify_disclosure`; ValueError before it is fetched."""
        if self.evidence is None:
            raise ValueError("no evidence to write: fetch it first (fetch_record_evidence)")
        Path(path).write_text(json.dumps(self.evidence.to_json(), indent=2) + "\n", encoding="utf-8")


def make_disclosure(
    files: Path | str | Iterable[Path | str] | Mapping[str, bytes],
    identifier: str,
    *,
    set_name: SetName = "input",
    job_id: str | None = None,
    member: bool | None = None,
) -> Disclosure:
    """The disclosure of whether ``identifier`` (normalised first) is in the party's ``set_name`` (``input``, or
    ``result``: the client's only) of the job whose files are ``files``: a directory holding them, the files
    (in any order: each is known by its content), or their names and bytes. A membership proof if it is in, a
    non-membership proof if not; with ``member`` True (False), refused unless it is (is not). With ``job_id``,
    files of another job are refused. Raises :class:`~sdk.privacy.PsiSetupError` saying why (module docstring)."""
    if set_name not in SETS:
        raise PsiSetupError(f"set_name must be one of {', '.join(SETS)}, not {set_name!r}")
    contents = _read_files(files)
    try:
        normal = normalise_identifier(identifier)
        kept = read_job_files(contents)
        record = kept.record.record
        if job_id is not None and record.job_id != job_id:
            raise PsiSetupError(f"the job files are of job {record.job_id}, not of job {job_id}")
        committed = kept.committed(set_name)
        document = prove_document(kept.record, committed, kept.key.party, set_name, normal)
        claim = verify_document(document)
    except PrivacyError as exc:
        raise PsiSetupError(str(exc)) from exc
    if member is not None and claim.member != member:
        where = _where(claim)
        raise PsiSetupError(
            f"identifier {normal} is {'not ' if member else ''}in {where}: "
            f"no {'membership' if member else 'non-membership'} proof to make"
        )
    return Disclosure(document, claim, kept.record_step)


def _where(claim: ProvenClaim) -> str:
    if claim.set == "result":
        return f"the result of job {claim.job_id}"
    return f"{claim.org}'s input of job {claim.job_id}"


def _read_files(files: Path | str | Iterable[Path | str] | Mapping[str, bytes]) -> Mapping[str, bytes]:
    if isinstance(files, Mapping):
        return files
    if isinstance(files, str | Path) and Path(files).is_dir():
        paths = sorted(p for p in Path(files).iterdir() if p.is_file())
        if not paths:
            raise PsiSetupError(f"no job files in {files}")
    elif isinstance(files, str | Path):
        paths = [Path(files)]
    else:
        paths = [Path(p) for p in files]
    contents = {}
    for path in paths:
        try:
            contents[str(path)] = path.read_bytes()
        except OSError as exc:
            raise PsiSetupError(f"cannot read the job file {path}: {exc}") from exc
    return contents


def fetch_record_evidence(
    client: MemberClient, disclosure: Disclosure, *, event_id: str | None = None, wait_s: float = 30.0
) -> Disclosure:
    """``disclosure`` with the evidence bundle of its job's record step: the event ``event_id``, by default the one
    the job files' ``record-step.json`` keeps, fetched through ``client``'s notary once anchored on chain
    (:meth:`MemberClient.evidence`, up to ``wait_s`` seconds; the client reads as a party of the job), and checked
    to be the record step of the disclosure's job.

    Raises :class:`~sdk.privacy.PsiSetupError` when no event id is given or kept,
    :class:`~sdk.client.VerificationFailedError` (its report's ``binding`` names each field) when the event is not
    the record step of this job, also when it is not anchored yet, and
    :class:`~sdk.client.EvidenceNotReadyError` when it is but not anchored after the wait."""
    if event_id is None:
        if disclosure.record_step is None:
            raise PsiSetupError(
                f"no {RECORD_STEP_FILE} among the job files names the record step's event (files kept before it "
                "existed, or of a job run without a gateway): give event_id (the record step's event id)"
            )
        event_id = disclosure.record_step.event_id
    try:
        bundle = client.evidence(event_id, wait_s=wait_s, anchored=True)
    except EvidenceNotReadyError as exc:
        if exc.bundle is not None:  # a wrong event id is said as such, not as evidence to wait for
            _check_record_step(disclosure, exc.bundle)
        raise
    _check_record_step(disclosure, bundle)
    return replace(disclosure, evidence=bundle)


def _check_record_step(disclosure: Disclosure, bundle: EvidenceBundle) -> None:
    document = disclosure.document
    binding = _binding(document, bundle.entry)
    if not passed(binding):
        job = document.record.record.job_id
        report = DisclosureReport(document, disclosure.claim, None, binding=binding)
        failed = "; ".join(f"{s.name}: {s.detail}" for s in binding if s.ok is False)
        raise VerificationFailedError(
            report, f"event {bundle.event_id!r} is not the record step of job {job}: {failed}"
        )


def _binding(document: DisclosureDocument, entry: bytes) -> tuple[Step, ...]:
    checks = disclosure_binding(document.record, document.record_sha256, entry)
    return tuple(Step(c.name, c.ok, c.detail) for c in checks)


# -- verifying ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedRecord:
    """Where the audit log holds the job's record step: its event, its index, the block that anchored the
    checkpoint (None: not anchored yet) and the owner's gateway that logged it."""

    event_id: str
    index: int
    block: int | None
    gateway: str


@dataclass(frozen=True)
class DisclosureReport(StepsReport):
    """The checks of one disclosure document, as ``consortium verify disclosure`` prints them.

    ``claim`` is what the document proves (None: it proves nothing, ``error`` says why); ``evidence`` the evidence
    bundle's steps when one was given, ``binding`` the checks that its event is the record step of the document's
    job, ``checks`` the document's own (``record``, ``signatures``, ``keys``, ``suite``, ``proof``, then
    ``logged`` with evidence and ``expected`` with a claim expected), and ``logged`` where the log holds the record
    step. The checks after a failed part are not made."""

    document: DisclosureDocument | None
    claim: ProvenClaim | None
    error: str | None = None
    evidence: VerificationReport | None = None
    binding: tuple[Step, ...] = ()
    checks: tuple[Step, ...] = ()
    logged: LoggedRecord | None = None

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every check made, in order: the evidence's, the binding's, the document's."""
        own = (Step("document", False, self.error),) if self.error is not None else ()
        return (self.evidence.steps if self.evidence is not None else ()) + self.binding + own + self.checks

    @property
    def ok(self) -> bool:
        """True when the document proves its claim and no check failed (steps pending do not count against)."""
        return self.claim is not None and passed(self.steps)

    @property
    def keys_checked(self) -> bool:
        """True when the record's keys were checked against the log (evidence given, and it and the binding held)."""
        return self.logged is not None

    def verdict(self) -> str:
        """What the report establishes: the claim's sentence, or why the document proves nothing."""
        if self.claim is None:
            return f"the disclosure does NOT verify: {self.error}"
        if self.evidence is not None and not self.evidence.ok:
            return self.evidence.verdict()
        if not passed(self.binding):
            failed = ", ".join(s.name for s in self.binding if s.ok is False)
            if self.evidence is None:  # fetch_record_evidence's check, before the bundle is verified
                return f"the event is NOT the record step of job {self.claim.job_id}: {failed}"
            return f"the record is NOT the one event {self.evidence.event_id!r} logged: {failed}"
        if not self.ok:
            return f"the disclosure is NOT the one expected: {', '.join(self.failed)}"
        return self.claim.sentence()

    def to_text(self) -> str:
        """One line per check (``✓ name — detail``), then the verdict."""
        return "\n".join([s.to_text() for s in self.steps] + [self.verdict()])

    def to_json(self) -> dict[str, Any]:
        """What ``consortium verify disclosure --json`` prints, for a document that proves its claim."""
        if self.claim is None or self.document is None:
            raise ValueError(self.verdict())
        claim, logged = self.claim, self.logged
        return {
            "job_id": claim.job_id,
            "org": claim.org,
            "party": claim.party,
            "set": claim.set,
            "identifier": claim.identifier,
            "member": claim.member,
            "record_sha256": claim.record_sha256.hex(),
            "client_key": claim.client_key.hex(),
            "server_key": claim.server_key.hex(),
            "keys_checked": self.keys_checked,
            "logged": None
            if logged is None
            else {"event_id": logged.event_id, "index": logged.index, "block": logged.block, "gateway": logged.gateway},
            "suite": self.document.record.record.suite.name,
            "statement": claim.sentence(),
        }


def verify_disclosure(
    document: bytes | Path | DisclosureDocument,
    *,
    record: bytes | Path | None = None,
    evidence: EvidenceBundle | Mapping[str, Any] | None = None,
    description: ConsortiumDescription | TrustRoots | None = None,
    chain: str | ChainWitnessKeys | None = None,
    chain_tls: ClientTls | None = None,
    offline: bool = False,
    job_id: str | None = None,
    identifier: str | None = None,
    member: bool | None = None,
    check: bool = True,
) -> DisclosureReport:
    """Check a disclosure document (its bytes, its file, or parsed), as ``consortium verify disclosure`` does.

    ``record``: the auditor's own copy of the signed record (bytes or file); the document must refer to exactly it.
    ``evidence``: the evidence bundle of the job's record step (parsed, or its JSON), checked as
    :meth:`MemberClient.verify` checks it under ``description`` (consortium.json, or trust roots used as given),
    ``chain``, ``chain_tls`` and ``offline``, then required to be the record step of this record's job; without
    it the record's keys are checked against nothing, which the ``keys`` line says. ``job_id``, ``identifier``
    (normalised first) and ``member``: the claim expected, when given (an ``expected`` check).

    Raises :class:`~sdk.client.VerificationFailedError` carrying the report when a check fails, unless ``check``
    is False; ValueError for ``evidence`` without ``description`` or an expected identifier that does not
    normalise; :class:`~sdk.client.SdkError` subclasses for a chain that cannot be read."""
    if evidence is not None and description is None:
        raise ValueError("evidence is checked under consortium.json: give description")
    expected = None if identifier is None else _normal(identifier)
    report = _verify(document, record, evidence, description, chain, chain_tls, offline, job_id, expected, member)
    if check and not report.ok:
        raise VerificationFailedError(report, report.verdict())
    return report


def _normal(identifier: str) -> str:
    try:
        return normalise_identifier(identifier)
    except PrivacyError as exc:
        raise ValueError(f"the identifier expected: {exc}") from exc


def _verify(
    source: bytes | Path | DisclosureDocument, record: bytes | Path | None,
    evidence: EvidenceBundle | Mapping[str, Any] | None, description: ConsortiumDescription | TrustRoots | None,
    chain: str | ChainWitnessKeys | None, chain_tls: ClientTls | None, offline: bool, job_id: str | None,
    identifier: str | None, member: bool | None,
) -> DisclosureReport:  # fmt: skip
    document: DisclosureDocument | None = None
    try:
        if isinstance(source, DisclosureDocument):
            document = source
        else:
            document = parse_document(source.read_bytes() if isinstance(source, Path) else source)
        mine = record.read_bytes() if isinstance(record, Path) else record
        claim = verify_document(document, mine)
    except PrivacyError as exc:
        return DisclosureReport(document, None, error=str(exc))
    except OSError as exc:
        return DisclosureReport(document, None, error=f"cannot read {exc.filename}: {exc.strerror}")
    job = document.record.record
    logged: LoggedRecord | None = None
    if evidence is not None and description is not None:
        checked = MemberClient.verify(
            evidence, description, check=False, chain=chain, chain_tls=chain_tls, offline=offline
        )
        if not checked.ok:
            return DisclosureReport(document, claim, evidence=checked)
        try:
            bundle = evidence if isinstance(evidence, EvidenceBundle) else EvidenceBundle.from_json(evidence)
        except BundleMalformedError as exc:  # a bundle that verified parses; said as a failure all the same
            binding: tuple[Step, ...] = (Step("event", False, f"the bundle does not parse: {exc}"),)
            return DisclosureReport(document, claim, evidence=checked, binding=binding)
        binding = _binding(document, bundle.entry)
        if not passed(binding):
            return DisclosureReport(document, claim, evidence=checked, binding=binding)
        entry = json.loads(bundle.entry)  # the binding parsed it as a JSON object
        block = None if bundle.anchor is None else bundle.anchor.block.number
        logged = LoggedRecord(bundle.event_id, bundle.index, block, str(entry.get("gateway_id")))
        evidence_report: VerificationReport | None = checked
    else:
        binding, evidence_report = (), None
    source_text = f"matches {record}" if isinstance(record, Path) else "matches the record given"
    checks = [
        Step(
            "record",
            True,
            f"job {job.job_id}, sha256 {claim.record_sha256.hex()} "
            f"({source_text if record is not None else 'carried in the document'})",
        ),
        Step(
            "signatures",
            True,
            f"client {job.client.org} (key {claim.client_key.hex()}), server {job.server.org} "
            f"(key {claim.server_key.hex()}): valid under the keys the record names",
        ),
        Step(
            "keys",
            None,
            "NOT checked against anything: anyone can make up a record with keys of their choosing; give "
            "--evidence (the evidence bundle of the job's record step) to bind the record to the audit log",
        )
        if logged is None
        else Step("keys", True, "the record's, as the one the owner's gateway logged (below) holds them"),
    ]
    suite = job.suite  # the record's protocol names it (privacy.suites)
    sign = "SM2 with SM3" if suite.name == "sm" else "Ed25519"
    checks.append(Step("suite", True, f"{suite.name} ({job.protocol}: {sign} signatures, {suite.digest_name} trees)"))
    size = job.result_count if claim.set == "result" else job.party(claim.party).input.count
    shown = {0: "no leaf (an empty set)", 1: "1 leaf"}.get(len(document.proof.leaves), "2 leaves")
    checks.append(Step("proof", True, f"the VRF proof and {shown} against the committed set of {size} identifiers"))
    if logged is not None:
        anchored = (
            f"anchored at block {logged.block}"
            if logged.block is not None
            else "NOT anchored on chain yet (fetch the bundle again once it is)"
        )
        checks.append(
            Step(
                "logged",
                True,
                f"the record is the one logged at index {logged.index} (event {logged.event_id}), {anchored}, by the "
                f"owner's gateway {logged.gateway} ({job.server.org}), with the caller authenticated as the client "
                f"firm {job.client.org}",
            )
        )
    if (job_id, identifier, member) != (None, None, None):
        checks.append(_expected(claim, job_id, identifier, member))
    return DisclosureReport(document, claim, None, evidence_report, binding, tuple(checks), logged)


def _expected(claim: ProvenClaim, job_id: str | None, identifier: str | None, member: bool | None) -> Step:
    wrong = []
    if job_id is not None and claim.job_id != job_id:
        wrong.append(f"it is about job {claim.job_id}, not job {job_id}")
    if identifier is not None and claim.identifier != identifier:
        wrong.append(f"it is about identifier {claim.identifier}, not {identifier}")
    if member is not None and claim.member != member:
        wrong.append(f"it proves {'membership' if claim.member else 'non-membership'}, not the other")
    if wrong:
        return Step("expected", False, "; ".join(wrong))
    return Step("expected", True, "the claim is the one expected")
