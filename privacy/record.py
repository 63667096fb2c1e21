"""The job record of one private set intersection: digests only, signed by both parties.

The record names the job (id, grant, purpose, the grant's ``max_input``), the protocol and the implementation's
version, each party (org, signing key, and the commitment to its input of ``privacy.disclosure``: VRF
public key, count, RFC 9162 Merkle root over the sorted VRF leaves), the SHA-256 of both protocol messages, and
the result (count and root, under the client's VRF key), and, when the owner's terms set an ε, a differentially
private count of the result (``privacy.dp``); a job under a grant's own terms names their document's SHA-256
(``terms``, ``privacy.asset``), a job under the asset's terms none. No identifier, keyed identifier or key is in it.

Bytes: the record as JSON in RFC 8785 canonical form (``notary.event.canonical_entry``: sorted keys, no
whitespace, integers in plain decimal); byte strings are lower-case hex. A party signs
``SIGNING_CONTEXT ‖ canonical record`` with the signature of the job's suite, which the record's ``protocol`` names
(``privacy.suites``): Ed25519 (RFC 8032) under ``intl``; SM2 with SM3 (GB/T 32918.2) under ``sm``, signer ID
``1234567812345678`` passed explicitly, ``r ‖ s``. Keys are of the suite: a 32-byte Ed25519 signing key and VRF key
under ``intl``, a 65-byte SM2 signing key (``04 ‖ x ‖ y``) and a 33-byte VRF key under ``sm``; the message digests
are SHA-256 or SM3, and the roots RFC 9162 trees over SHA-256 or SM3.
:func:`parse_record` accepts only the canonical form, so one record has
one byte string and one signature covers every field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from notary.event import canonical_entry
from notary.log.hashing import Hash32
from privacy import _json
from privacy.disclosure import Commitment, Party, SetName
from privacy.dp import DpCount
from privacy.errors import MalformedError, SignatureError
from privacy.suites import PsiSuite, SigningKey, raw_public, suite_of_protocol
from suite.sm2 import SM2PublicKey

RECORD_VERSION: Final = 1
SIGNING_CONTEXT: Final = b"consortium-ledger/psi-job-record/v1\n"
MAX_RECORD_BYTES: Final = 16 * 1024

JOB_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")
GRANT_ID: Final = re.compile(r"0x[0-9a-f]{64}\Z")
NAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}\Z")
TEXT: Final = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,63}\Z")
_HEX32: Final = re.compile(r"[0-9a-f]{64}\Z")


def key_bytes(key: Ed25519PublicKey | SM2PublicKey | bytes) -> bytes:
    """The raw bytes of a signing public key: 32 (Ed25519) or 65 (SM2, ``04 ‖ x ‖ y``)."""
    return raw_public(key)


@dataclass(frozen=True, slots=True)
class PartyEntry:
    """One party as the record names it."""

    org: str
    signing_key: bytes
    input: Commitment


@dataclass(frozen=True, slots=True)
class JobRecord:
    """The signed facts of one job (see the module docstring)."""

    job_id: str
    grant_id: str
    purpose: str
    max_input: int
    protocol: str
    implementation: str
    client: PartyEntry
    server: PartyEntry
    request_hash: bytes
    response_hash: bytes
    result_count: int
    result_root: Hash32
    dp: DpCount | None = None  # when the owner's terms set dp_epsilon (privacy.dp)
    terms: bytes | None = None  # SHA-256 of the grant's own terms document (privacy.asset); None: the asset's

    @property
    def suite(self) -> PsiSuite:
        """The suite the record's protocol pins (``privacy.suites``)."""
        return suite_of_protocol(self.protocol)

    def party(self, role: Party) -> PartyEntry:
        return self.client if role == "client" else self.server

    def commitment(self, role: Party, set_name: SetName) -> Commitment:
        """The commitment a disclosure about ``role``'s ``set_name`` is checked against."""
        if set_name == "input":
            return self.party(role).input
        if role != "client":
            raise MalformedError("only the client learns, and commits to, the result")
        return Commitment(vrf_key=self.client.input.vrf_key, count=self.result_count, root=self.result_root)

    def to_json(self) -> dict[str, Any]:
        def party(p: PartyEntry) -> dict[str, Any]:
            return {
                "org": p.org,
                "signing_key": p.signing_key.hex(),
                "vrf_key": p.input.vrf_key.hex(),
                "input_count": p.input.count,
                "input_root": p.input.root.hex(),
            }

        obj: dict[str, Any] = {
            "v": RECORD_VERSION,
            "job_id": self.job_id,
            "grant_id": self.grant_id,
            "purpose": self.purpose,
            "max_input": self.max_input,
            "protocol": self.protocol,
            "implementation": self.implementation,
            "client": party(self.client),
            "server": party(self.server),
            "messages": {"request": self.request_hash.hex(), "response": self.response_hash.hex()},
            "result": {"count": self.result_count, "root": self.result_root.hex()},
        }
        if self.dp is not None:  # absent otherwise, so a record without one keeps its bytes
            obj["dp"] = self.dp.to_json()
        if self.terms is not None:  # likewise: a job under the asset's terms names none
            obj["terms"] = self.terms.hex()
        return obj

    @classmethod
    def from_json(cls, obj: object) -> JobRecord:
        """The record ``obj`` holds; raises MalformedError naming the first field that is wrong."""
        optional = {key for key in ("dp", "terms") if isinstance(obj, dict) and key in obj}
        top = _json.fields(
            obj,
            "record",
            optional
            | {
                "v",
                "job_id",
                "grant_id",
                "purpose",
                "max_input",
                "protocol",
                "implementation",
                "client",
                "server",
                "messages",
                "result",
            },
        )
        if top["v"] != RECORD_VERSION or type(top["v"]) is not int:
            raise MalformedError(f"record.v: unsupported version {top['v']!r}; expected {RECORD_VERSION}")
        messages = _json.fields(top["messages"], "record.messages", {"request", "response"})
        result = _json.fields(top["result"], "record.result", {"count", "root"})
        protocol = _json.text(top["protocol"], "record.protocol", NAME)
        try:
            suite = suite_of_protocol(protocol)
        except MalformedError as exc:
            raise MalformedError(f"record.protocol: {exc}") from None
        return cls(
            job_id=_json.text(top["job_id"], "record.job_id", JOB_ID),
            grant_id=_json.text(top["grant_id"], "record.grant_id", GRANT_ID),
            purpose=_json.text(top["purpose"], "record.purpose", NAME),
            max_input=_json.uint(top["max_input"], "record.max_input"),
            protocol=protocol,
            implementation=_json.text(top["implementation"], "record.implementation", TEXT),
            client=_party(top["client"], "record.client", suite),
            server=_party(top["server"], "record.server", suite),
            request_hash=_hex32(messages["request"], "record.messages.request"),
            response_hash=_hex32(messages["response"], "record.messages.response"),
            result_count=_json.uint(result["count"], "record.result.count"),
            result_root=Hash32(_hex32(result["root"], "record.result.root")),
            dp=DpCount.from_json(top["dp"], "record.dp") if "dp" in top else None,
            terms=_hex32(top["terms"], "record.terms") if "terms" in top else None,
        )


def _hex32(value: object, loc: str) -> bytes:
    return bytes.fromhex(_json.text(value, loc, _HEX32))


def _hex_key(value: object, loc: str, size: int, suite: PsiSuite) -> bytes:
    text = _json.text(value, loc)
    if len(text) != 2 * size or re.fullmatch(r"[0-9a-f]*", text) is None:
        raise MalformedError(f"{loc}: must be {size} bytes in lower-case hex (a key of the {suite.name} suite)")
    return bytes.fromhex(text)


def _party(obj: object, loc: str, suite: PsiSuite) -> PartyEntry:
    p = _json.fields(obj, loc, {"org", "signing_key", "vrf_key", "input_count", "input_root"})
    return PartyEntry(
        org=_json.text(p["org"], f"{loc}.org", NAME),
        signing_key=_hex_key(p["signing_key"], f"{loc}.signing_key", suite.signing_key_size, suite),
        input=Commitment(
            vrf_key=_hex_key(p["vrf_key"], f"{loc}.vrf_key", suite.vrf_public_size, suite),
            count=_json.uint(p["input_count"], f"{loc}.input_count"),
            root=Hash32(_hex32(p["input_root"], f"{loc}.input_root")),
        ),
    )


def format_record(record: JobRecord) -> bytes:
    """The canonical bytes of ``record`` (RFC 8785), what each party signs after ``SIGNING_CONTEXT``."""
    return canonical_entry(record.to_json())


def parse_record(data: bytes) -> JobRecord:
    """The record in ``data``; raises MalformedError unless ``data`` is a valid record in canonical form."""
    if len(data) > MAX_RECORD_BYTES:
        raise MalformedError(f"record is {len(data)} bytes, at most {MAX_RECORD_BYTES}")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedError(f"record is not UTF-8 JSON: {exc}") from exc
    record = JobRecord.from_json(obj)
    if format_record(record) != data:
        raise MalformedError("record is not in canonical form (RFC 8785: sorted keys, no whitespace)")
    return record


def sign_record(record: JobRecord, role: Party, private_key: SigningKey) -> bytes:
    """``role``'s signature over the record with the record's suite (module docstring); the key must be the one
    the record names for ``role``, and of that suite (SuiteMismatchError otherwise)."""
    suite = record.suite
    if suite.public_key(private_key) != record.party(role).signing_key:
        raise MalformedError(f"this key is not the {role}'s signing key named in the record")
    return suite.sign(private_key, SIGNING_CONTEXT + format_record(record))


@dataclass(frozen=True, slots=True)
class SignedRecord:
    """A job record with both parties' signatures."""

    record: JobRecord
    client_signature: bytes
    server_signature: bytes

    def signature(self, role: Party) -> bytes:
        return self.client_signature if role == "client" else self.server_signature


def verify_record(
    signed: SignedRecord,
    client_key: Ed25519PublicKey | SM2PublicKey | bytes,
    server_key: Ed25519PublicKey | SM2PublicKey | bytes,
) -> JobRecord:
    """Check both signatures, with the record's suite, under the parties' keys known from elsewhere (the members'
    published keys).

    Raises SignatureError if the record names other keys or a signature does not verify over its bytes.
    """
    data = SIGNING_CONTEXT + format_record(signed.record)
    suite = signed.record.suite
    roles: tuple[Party, Party] = ("client", "server")
    for role, key in zip(roles, (client_key, server_key), strict=True):
        if key_bytes(key) != signed.record.party(role).signing_key:
            raise SignatureError(role, f"the record names another signing key for the {role} than the one given")
        if not suite.verify(key_bytes(key), signed.signature(role), data):
            raise SignatureError(
                role, f"the {role}'s {suite.name} signature does not verify over job {signed.record.job_id}"
            )
    return signed.record


def format_signed_record(signed: SignedRecord) -> bytes:
    """Canonical JSON of ``{"record": ..., "signatures": {"client": hex, "server": hex}}``."""
    return canonical_entry(
        {
            "record": signed.record.to_json(),
            "signatures": {"client": signed.client_signature.hex(), "server": signed.server_signature.hex()},
        }
    )


_SIG: Final = re.compile(r"[0-9a-f]{128}\Z")


def format_summary(signed: SignedRecord) -> str:
    """What the log may hold of a signed record (``notary.event.psi_summary_problem``): its canonical JSON without
    the job id and the purpose (the log names the job by its tag, ``privacy.asset.job_tag``), with both
    signatures. Digests, counts, public keys, org ids and the protocol only: the record has no identifier, keyed
    identifier or secret key to leave out. With a differentially private count (``privacy.dp``) the summary holds
    that one and its ε, and leaves the exact count of the result out; when it holds the input counts with noise too,
    the exact input counts are left out as well."""
    record = signed.record.to_json()
    del record["job_id"], record["purpose"]
    if signed.record.dp is not None:
        del record["result"]["count"]
        if signed.record.dp.inputs is not None:  # the input counts too are in the log only with noise
            del record["client"]["input_count"], record["server"]["input_count"]
    record["signatures"] = {"client": signed.client_signature.hex(), "server": signed.server_signature.hex()}
    return canonical_entry(record).decode("utf-8")


def parse_signed_record(data: bytes) -> SignedRecord:
    """The signed record in ``data`` (canonical form only); signatures are not checked here."""
    if len(data) > MAX_RECORD_BYTES:
        raise MalformedError(f"signed record is {len(data)} bytes, at most {MAX_RECORD_BYTES}")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedError(f"signed record is not UTF-8 JSON: {exc}") from exc
    top = _json.fields(obj, "signed record", {"record", "signatures"})
    sigs = _json.fields(top["signatures"], "signatures", {"client", "server"})
    signed = SignedRecord(
        record=JobRecord.from_json(top["record"]),
        client_signature=bytes.fromhex(_json.text(sigs["client"], "signatures.client", _SIG)),
        server_signature=bytes.fromhex(_json.text(sigs["server"], "signatures.server", _SIG)),
    )
    if format_signed_record(signed) != data:
        raise MalformedError("signed record is not in canonical form (RFC 8785: sorted keys, no whitespace)")
    return signed
