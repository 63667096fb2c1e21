"""The files a party keeps after a job, from which it later makes disclosure proofs (``privacy.document``).

Per job and party, in one directory the party keeps private (names as :func:`party_files` gives them):

- ``record.json``: the signed job record, ``privacy.record.format_signed_record``'s bytes; public (it names
  digests only), the same file at both parties;
- ``vrf-key.json``: the party's VRF secret key for the job (of the record's suite: an RFC 8032 seed under ``intl``,
  an SM2 scalar under ``sm``), ``consortium-ledger/privacy-vrf-key/v1``; secret:
  whoever holds it can evaluate the VRF and so test guesses against the party's leaves;
- ``input.set.json`` (and, at the client, ``result.set.json``): the committed set,
  ``consortium-ledger/privacy-committed-set/v1``: the party's normalised identifiers in the order of their
  sorted VRF leaves, and the leaves; secret (it is the party's customer list). The leaves are kept so that a
  proof does not evaluate the VRF again for the whole set;
- ``record-step.json`` (optional): where the job's record step is in the audit log,
  ``consortium-ledger/privacy-record-step/v1``: the id of the event the owner's gateway recorded for the record
  step (the client reads it from the gateway's answer, the owner's PSI service from the ``Consortium-Event-Id``
  header its gateway forwards) and the notary's URL if the party knew it; public. ``privacy prove-member --as``
  fetches that event's evidence bundle with it. Files kept before it existed, or of a job whose steps went through
  no gateway, have none, and read as before.

Bytes of both formats: RFC 8785 canonical JSON and one line feed; byte strings standard base64 with padding::

    {"format": "consortium-ledger/privacy-vrf-key/v1", "job_id": "...", "party": "client" | "server",
     "secret_key": base64 (32 bytes, an RFC 8032 seed)}
    {"format": "consortium-ledger/privacy-committed-set/v1", "job_id": "...", "party": "client" | "server",
     "set": "input" | "result", "vrf_key": base64 (32 bytes), "root": base64 (32 bytes),
     "identifiers": ["<normal form>", ...], "leaves": [base64 (64 bytes), ...]}
    {"format": "consortium-ledger/privacy-record-step/v1", "job_id": "...",
     "record_sha256": base64 (32 bytes: SHA-256 of record.json), "event_id": "<the record step's event id>",
     "notary_url": "https://..." | null}

``open.json`` (``consortium-ledger/privacy-open-job/v1``, the owner's only, while a job is between its request and
its record step; removed when the record is countersigned or the job expires): the job's terms as the request named
them (``privacy.psi.JobTerms``), when it was answered, the request's and response's hashes, the client's org, key
and commitment the request named, the owner's noisy input count (``dp_inputs``) and input commitment, and the
owner's VRF secret key of the job sealed to the asset's job-secret key (``privacy.suites.PsiSuite.seal``, ``info``
``consortium-ledger/privacy-open-job/v1`` ‖ LF ‖ job id), so the file holds no secret in the clear::

    {"format": "consortium-ledger/privacy-open-job/v1", "terms": {...}, "opened_at": 1796000000,
     "request_hash": base64, "response_hash": base64, "client": {"client_org", "client_signing_key",
     "client_commitment"}, "server_dp_input": int | null, "server_commitment": {"vrf_key": base64, "count": int,
     "root": base64}, "sealed_vrf_secret": base64}

Beside it, ``open.response``: the owner's answer to the job's request (message 2), byte for byte, whose hash is
the file's ``response_hash``; removed with ``open.json``. Both are written in a staging directory and renamed together
into ``<jobs>/<job id>`` (:func:`publish_job_dir`), so the job's directory is there whole or not at all.

Under ``sm`` the VRF key is 33 bytes (a compressed SM2 point), the leaves 32 bytes (ECVRF-SM2-SM3-SSWU) and the
root is the RFC 9162 root over SM3: the VRF key's size names the suite (``privacy.suites.suite_of_vrf_key``).

:func:`parse_committed_set` refuses leaves out of order or repeated, identifiers not in normal form or
repeated, and a root that is not the RFC 9162 root of the leaves; :meth:`JobFiles.committed` refuses a set
or key that is not the one the record names; :func:`read_job_files` refuses a record-step file of another job or
record. The record-step file says which event the party was told of, nothing more: that the event is this job's
record step is checked on its evidence bundle (``privacy.document.disclosure_binding``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from notary.durable import fsync_dir
from notary.log.hashing import Hash32
from privacy import _json
from privacy.disclosure import PARTIES, SETS, Commitment, CommittedSet, Party, SetName
from privacy.errors import MalformedError
from privacy.identifiers import is_normal
from privacy.psi import STATE_CLIENT_FIELDS, JobTerms, ServerState
from privacy.record import JOB_ID, SignedRecord, format_signed_record, parse_signed_record
from privacy.suites import INTL, suite_of_vrf_key

KEY_FORMAT: Final = "consortium-ledger/privacy-vrf-key/v1"
SET_FORMAT: Final = "consortium-ledger/privacy-committed-set/v1"
MAX_KEY_BYTES: Final = 1024
#: About 2.3 million identifiers; a grant's ``max_input`` above that needs another file layout.
MAX_SET_BYTES: Final = 256 * 1024 * 1024
RECORD_STEP_FORMAT: Final = "consortium-ledger/privacy-record-step/v1"
MAX_RECORD_STEP_BYTES: Final = 4096
RECORD_FILE: Final = "record.json"
KEY_FILE: Final = "vrf-key.json"
RECORD_STEP_FILE: Final = "record-step.json"
OPEN_JOB_FORMAT: Final = "consortium-ledger/privacy-open-job/v1"
OPEN_JOB_FILE: Final = "open.json"
#: Beside ``open.json``: the answer the owner gave the job's request (message 2), byte for byte, so that the same
#: request sent again (its answer lost to a crash or a broken connection) gets the same answer.
OPEN_RESPONSE_FILE: Final = "open.response"
#: The prefix of the directory a job's first files are written in before it takes the job's name
#: (:func:`publish_job_dir`); a job id starts with a letter or digit.
STAGING_PREFIX: Final = ".staging-"
OPEN_JOB_CONTEXT: Final = b"consortium-ledger/privacy-open-job/v1\n"
MAX_OPEN_JOB_BYTES: Final = 16 * 1024
#: An audit event's id, as ``notary.event`` takes it.
EVENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")
_MAX_URL: Final = 2048


def set_file_name(set_name: SetName) -> str:
    return f"{set_name}.set.json"


@dataclass(frozen=True, slots=True)
class VrfKeyFile:
    job_id: str
    party: Party
    secret_key: bytes


@dataclass(frozen=True, slots=True)
class SetFile:
    job_id: str
    party: Party
    set: SetName
    identifiers: tuple[str, ...]
    leaves: tuple[bytes, ...]
    commitment: Commitment


def format_vrf_key(key: VrfKeyFile) -> bytes:
    """The key file's bytes (module docstring)."""
    return _json.format_document(
        {"format": KEY_FORMAT, "job_id": key.job_id, "party": key.party, "secret_key": _json.to_b64(key.secret_key)}
    )


def parse_vrf_key(data: bytes) -> VrfKeyFile:
    obj = _json.fields(
        _json.parse_document(data, "VRF key file", KEY_FORMAT, MAX_KEY_BYTES),
        "VRF key file",
        {"format", "job_id", "party", "secret_key"},
    )
    return VrfKeyFile(
        job_id=_json.text(obj["job_id"], "job_id", JOB_ID),
        party=_json.choice(obj["party"], "party", PARTIES),  # type: ignore[arg-type]
        secret_key=_json.from_b64(obj["secret_key"], "secret_key", 32),
    )


def format_committed_set(committed: CommittedSet, party: Party, set_name: SetName) -> bytes:
    """The set file's bytes (module docstring): no secret key in it."""
    c = committed.commitment
    return _json.format_document(
        {
            "format": SET_FORMAT,
            "job_id": committed.job_id,
            "party": party,
            "set": set_name,
            "vrf_key": _json.to_b64(c.vrf_key),
            "root": _json.to_b64(c.root),
            "identifiers": list(committed.identifiers),
            "leaves": [_json.to_b64(leaf) for leaf in committed.leaves],
        }
    )


def parse_committed_set(data: bytes) -> SetFile:
    obj = _json.fields(
        _json.parse_document(data, "set file", SET_FORMAT, MAX_SET_BYTES),
        "set file",
        {"format", "job_id", "party", "set", "vrf_key", "root", "identifiers", "leaves"},
    )
    ids = _json.array(obj["identifiers"], "identifiers", MAX_SET_BYTES)
    raw = _json.array(obj["leaves"], "leaves", MAX_SET_BYTES)
    if len(ids) != len(raw):
        raise MalformedError(f"set file: {len(ids)} identifiers but {len(raw)} leaves")
    for i, identifier in enumerate(ids):
        if not isinstance(identifier, str) or not is_normal(identifier):
            raise MalformedError(f"identifiers[{i}]: {identifier!r} is not in normal form (privacy.identifiers)")
    if len(set(ids)) != len(ids):
        raise MalformedError("identifiers: an identifier is repeated")
    vrf_key = _json.from_b64(obj["vrf_key"], "vrf_key")
    try:
        suite = suite_of_vrf_key(vrf_key)
    except MalformedError as exc:
        raise MalformedError(f"vrf_key: {exc}") from None
    leaves = tuple(_json.from_b64(leaf, f"leaves[{i}]", suite.vrf_output_size) for i, leaf in enumerate(raw))
    for i in range(1, len(leaves)):
        if leaves[i - 1] >= leaves[i]:
            raise MalformedError(f"leaves[{i}]: not above leaves[{i - 1}]; the leaves are sorted and distinct")
    root = Hash32(_json.from_b64(obj["root"], "root", 32))
    if suite.tree.root_of([suite.tree.leaf(leaf) for leaf in leaves]) != root:
        raise MalformedError(f"root: not the RFC 9162 root of the leaves ({suite.digest_name})")
    return SetFile(
        job_id=_json.text(obj["job_id"], "job_id", JOB_ID),
        party=_json.choice(obj["party"], "party", PARTIES),  # type: ignore[arg-type]
        set=_json.choice(obj["set"], "set", SETS),  # type: ignore[arg-type]
        identifiers=tuple(ids),
        leaves=leaves,
        commitment=Commitment(vrf_key, len(leaves), root),
    )


@dataclass(frozen=True, slots=True)
class RecordStepFile:
    """Where a job's record step is in the audit log: its event's id, and the notary that holds the log."""

    job_id: str
    record_sha256: bytes
    event_id: str
    notary_url: str | None = None


def record_step_of(signed: SignedRecord, event_id: str, notary_url: str | None = None) -> RecordStepFile:
    """The record-step file of the job ``signed`` records, whose record step is the event ``event_id``."""
    if EVENT_ID.match(event_id) is None:
        raise MalformedError(f"event id {event_id!r} must match {EVENT_ID.pattern}")
    digest = hashlib.sha256(format_signed_record(signed)).digest()
    return RecordStepFile(signed.record.job_id, digest, event_id, notary_url or None)


def format_record_step_file(step: RecordStepFile) -> bytes:
    """The record-step file's bytes (module docstring)."""
    return _json.format_document(
        {
            "format": RECORD_STEP_FORMAT,
            "job_id": step.job_id,
            "record_sha256": _json.to_b64(step.record_sha256),
            "event_id": step.event_id,
            "notary_url": step.notary_url,
        }
    )


def parse_record_step_file(data: bytes) -> RecordStepFile:
    obj = _json.fields(
        _json.parse_document(data, "record-step file", RECORD_STEP_FORMAT, MAX_RECORD_STEP_BYTES),
        "record-step file",
        {"format", "job_id", "record_sha256", "event_id", "notary_url"},
    )
    url = obj["notary_url"]
    if url is not None and (not isinstance(url, str) or not url or len(url) > _MAX_URL):
        raise MalformedError(f"notary_url: {url!r} is neither null nor a URL of at most {_MAX_URL} characters")
    return RecordStepFile(
        job_id=_json.text(obj["job_id"], "job_id", JOB_ID),
        record_sha256=_json.from_b64(obj["record_sha256"], "record_sha256", 32),
        event_id=_json.text(obj["event_id"], "event_id", EVENT_ID),
        notary_url=url,
    )


@dataclass(frozen=True, slots=True)
class OpenJobFile:
    """What the owner's PSI service keeps of a job between its request and its record step (module docstring)."""

    terms: JobTerms
    opened_at: int  # seconds of the service's clock when the request was answered
    state: ServerState
    commitment: Commitment  # the server's input commitment the response named
    sealed_vrf_secret: bytes  # its VRF secret key, sealed to the owner's job-secret key (privacy.suites)


def open_job_info(job_id: str) -> bytes:
    """What binds a sealed VRF secret to its job (the ``info`` of ``privacy.suites.PsiSuite.seal``)."""
    return OPEN_JOB_CONTEXT + job_id.encode("ascii")


def format_open_job(job: OpenJobFile) -> bytes:
    """The open-job file's bytes (module docstring)."""
    c = job.commitment
    return _json.format_document(
        {
            "format": OPEN_JOB_FORMAT,
            "terms": job.terms.to_json(),
            "opened_at": job.opened_at,
            "request_hash": _json.to_b64(job.state.request_hash),
            "response_hash": _json.to_b64(job.state.response_hash),
            "client": job.state.client,
            "server_dp_input": job.state.noisy_input,
            "server_commitment": {"vrf_key": _json.to_b64(c.vrf_key), "count": c.count, "root": _json.to_b64(c.root)},
            "sealed_vrf_secret": _json.to_b64(job.sealed_vrf_secret),
        }
    )


def parse_open_job(data: bytes) -> OpenJobFile:
    obj = _json.fields(
        _json.parse_document(data, "open-job file", OPEN_JOB_FORMAT, MAX_OPEN_JOB_BYTES),
        "open-job file",
        {
            "format", "terms", "opened_at", "request_hash", "response_hash", "client", "server_dp_input",
            "server_commitment", "sealed_vrf_secret",
        },
    )  # fmt: skip
    terms = JobTerms.from_json(obj["terms"])
    client = _json.fields(obj["client"], "client", set(STATE_CLIENT_FIELDS))
    noisy = obj["server_dp_input"]
    c = _json.fields(obj["server_commitment"], "server_commitment", {"vrf_key", "count", "root"})
    return OpenJobFile(
        terms=terms,
        opened_at=_json.uint(obj["opened_at"], "opened_at"),
        state=ServerState(
            request_hash=_json.from_b64(obj["request_hash"], "request_hash", 32),
            response_hash=_json.from_b64(obj["response_hash"], "response_hash", 32),
            client=client,
            noisy_input=None if noisy is None else _json.uint(noisy, "server_dp_input"),
        ),
        commitment=Commitment(
            _json.from_b64(c["vrf_key"], "server_commitment.vrf_key", terms.suite.vrf_public_size),
            _json.uint(c["count"], "server_commitment.count"),
            Hash32(_json.from_b64(c["root"], "server_commitment.root", 32)),
        ),
        sealed_vrf_secret=_json.from_b64(obj["sealed_vrf_secret"], "sealed_vrf_secret"),
    )


def party_files(
    party: Party,
    signed: SignedRecord,
    input_set: CommittedSet,
    result_set: CommittedSet | None = None,
) -> dict[str, bytes]:
    """File name → bytes of what ``party`` keeps after the job of ``signed`` (module docstring)."""
    job_id = signed.record.job_id
    files = {
        RECORD_FILE: format_signed_record(signed),
        KEY_FILE: format_vrf_key(VrfKeyFile(job_id, party, input_set.vrf_secret)),
        set_file_name("input"): format_committed_set(input_set, party, "input"),
    }
    if result_set is not None:
        if party != "client":
            raise MalformedError("only the client commits to the result")
        files[set_file_name("result")] = format_committed_set(result_set, party, "result")
    return files


def write_job_files(directory: Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write a party's files (name → bytes) into ``directory`` (created, mode 0700), each readable by its owner
    only and written atomically (a temporary file, fsync, rename), ``record.json`` last and the directory fsynced
    after the renames: a directory that holds a ``record.json`` holds the files written with it, after any crash;
    the paths written."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    for name in sorted(files, key=lambda n: n == RECORD_FILE):  # stable: the others in the order given
        path = directory / name
        tmp = path.with_name(f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(files[name])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        written.append(path)
    fsync_dir(directory)
    return written


def publish_job_dir(jobs_dir: Path, job_id: str, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` as the new directory ``<jobs_dir>/<job id>``, all of them or none: into a staging directory
    beside it (``STAGING_PREFIX``, which no job id starts with) by :func:`write_job_files`, renamed into place,
    ``jobs_dir`` fsynced. Raises OSError (``FileExistsError`` among others) when the job's directory is there
    already, or the files cannot be written; a crash leaves a staging directory, which :func:`clear_staged`
    removes, or the whole directory."""
    if JOB_ID.match(job_id) is None:
        raise MalformedError(f"job id {job_id!r} must match {JOB_ID.pattern}")
    jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{job_id}.", dir=jobs_dir))
    target = jobs_dir / job_id
    try:
        write_job_files(staging, files)
        if target.exists():  # rename(2) would replace an empty directory
            raise FileExistsError(errno.EEXIST, "the job's directory is there already", str(target))
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(jobs_dir)
    return target


def clear_staged(jobs_dir: Path) -> list[str]:
    """Remove the staging directories a crash left in ``jobs_dir`` (:func:`publish_job_dir`); their names."""
    if not jobs_dir.is_dir():
        return []
    found = sorted(p for p in jobs_dir.iterdir() if p.name.startswith(STAGING_PREFIX) and p.is_dir())
    for path in found:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in found]


@dataclass(frozen=True, slots=True)
class JobFiles:
    """One party's files of one job, read back."""

    record: SignedRecord
    key: VrfKeyFile
    sets: Mapping[SetName, SetFile]
    record_step: RecordStepFile | None = None  # None: files kept without one (module docstring)

    def committed(self, set_name: SetName) -> CommittedSet:
        """The committed set ``set_name``, checked against the key and against the commitment the record names."""
        if set_name not in self.sets:
            raise MalformedError(f"no {set_name} set file among the job files")
        s, job = self.sets[set_name], self.record.record
        if (s.job_id, self.key.job_id) != (job.job_id, job.job_id):
            raise MalformedError(
                f"the set file is of job {s.job_id}, the key of {self.key.job_id}, the record of {job.job_id}"
            )
        if s.party != self.key.party:
            raise MalformedError(f"the set file is the {s.party}'s, the VRF key the {self.key.party}'s")
        if s.commitment != job.commitment(s.party, s.set):
            raise MalformedError(f"the {set_name} set file is not the {s.party}'s {set_name} the record commits to")
        suite = self.record.record.suite
        if suite is not INTL and suite_of_vrf_key(s.commitment.vrf_key) is not suite:
            raise MalformedError(f"the set file's VRF key is not of the record's {suite.name} suite")
        if suite.vrf_public_key(self.key.secret_key) != s.commitment.vrf_key:
            raise MalformedError("the VRF key file does not hold the secret key of the record's VRF key")
        return CommittedSet(job.job_id, self.key.secret_key, s.leaves, s.identifiers, s.commitment)


def read_job_files(files: Mapping[str, bytes]) -> JobFiles:
    """Sort a party's job files (name → bytes, in any order) by what they hold; errors name the file."""
    record: SignedRecord | None = None
    key: VrfKeyFile | None = None
    sets: dict[SetName, SetFile] = {}
    step: tuple[str, RecordStepFile] | None = None
    for name, data in files.items():
        try:
            kind = _kind(data)
            if kind == "record":
                if record is not None:
                    raise MalformedError("a second signed record")
                record = parse_signed_record(data)
            elif kind == KEY_FORMAT:
                if key is not None:
                    raise MalformedError("a second VRF key file")
                key = parse_vrf_key(data)
            elif kind == SET_FORMAT:
                parsed = parse_committed_set(data)
                if parsed.set in sets:
                    raise MalformedError(f"a second {parsed.set} set file")
                sets[parsed.set] = parsed
            elif kind == RECORD_STEP_FORMAT:
                if step is not None:
                    raise MalformedError(f"a second record-step file (the first is {step[0]})")
                step = (name, parse_record_step_file(data))
            else:
                raise MalformedError(f"not a job file (format {kind!r})")
        except MalformedError as exc:
            raise MalformedError(f"{name}: {exc}") from exc
    if record is None or key is None or not sets:
        missing = [
            what for what, have in (("record.json", record), ("vrf-key.json", key), ("a set file", sets)) if not have
        ]
        raise MalformedError(f"the job files lack {', '.join(missing)}")
    if step is not None:
        name, found = step
        job_id = record.record.job_id
        if found.job_id != job_id:
            raise MalformedError(f"{name}: the record-step file is of job {found.job_id}, the record of job {job_id}")
        digest = hashlib.sha256(format_signed_record(record)).digest()
        if found.record_sha256 != digest:
            raise MalformedError(
                f"{name}: the record-step file is of a record with SHA-256 {found.record_sha256.hex()}, not of this "
                f"record.json ({digest.hex()}): the files are of two runs of job {job_id}"
            )
    return JobFiles(record, key, sets, None if step is None else step[1])


def _kind(data: bytes) -> str:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedError(f"not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise MalformedError("not a JSON object")
    if "format" not in obj:
        return "record" if set(obj) == {"record", "signatures"} else "unknown"
    return str(obj["format"])
