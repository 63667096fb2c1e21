"""Joining a running consortium from the firm's own machine: the admission request (``docs/trust.md``, "Joining").

A firm that wants to join holds only what any outsider may hold: the consortium's public description
(``consortium.json``: the chain, the contract addresses, the founders' certificates and public keys, never a
private key) and the URL of a chain node. :func:`join` creates its identity in a directory of its own, as
``consortium identity create`` does (passphrase-encrypted keys), and writes an admission request,
``admission-request.json``::

    {"format": "consortium-ledger/admission-request/v1",
     "consortium": {"name": …, "chain_id": …, "registry": "0x…", "trust_directory": "0x…"},
     "org": "epsilon", "name": "Epsilon Securities", "roles": ["member", "witness"],
     "account": "0x…", "ca_cert_pem": "…", "ca_fingerprint": "0x…", "admin_cert_pem": "…",
     "cert_fingerprint": "0x…", "keys": {"gateway": "…", "witness": "…"}, "created_at": "…Z",
     "sm2_ca_cert_pem": "…", "sm2_ca_fingerprint": "0x…",
     "signature": "<base64 of an ECDSA P-256 signature, DER>"}

``sm2_ca_cert_pem`` and ``sm2_ca_fingerprint`` (SHA-256 of its DER) are there only in a request for an ``sm``
consortium whose firm has an SM2 identity CA (``docs/national-suite.md``, "People under `sm`"); a request without
them is signed, and checked, over the other fields alone, as before they existed.

The signature is the firm's admin key's (the key of ``admin_cert_pem``, issued by the CA of ``ca_cert_pem``) over
``FORMAT ‖ "\\n" ‖`` the canonical JSON of every other field (sorted keys, no spaces, UTF-8): whoever holds the
file can check that the admin key's holder wrote exactly this, and that its certificate comes from the CA it names.
It does not say who that holder is: anyone can make a CA. Members learn the CA fingerprint from the firm by another
channel and give it to ``member propose admit --ca-fingerprint``. The SM2 identity CA needs no fingerprint of its own:
the admin key, whose certificate that P-256 CA issued, signs it with the rest.

``consortium`` binds the request to one consortium: the members' side refuses a request for another chain id,
registry or directory (:meth:`AdmissionRequest.check_consortium`), and one whose org or account is already on chain
(:func:`check_on_chain`). The proposal carries exactly the request's org, name, roles, admin certificate
fingerprint and account; the keys are the ones the firm publishes itself once admitted (``member keys publish``),
the same :func:`network.trust.founder_keys` of its identity.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chain.errors import MalformedError
from chain.ids import OrgId, Role, check_name
from network._pem import PUBLIC_FILE_MODE, display_name_of, org_units, parse_cert
from network.description import FILENAME as DESCRIPTION_FILENAME
from network.description import ConsortiumDescription
from network.errors import NetworkError
from network.identity import (
    CertificateError,
    OrgPublic,
    check_sm2_ca_pem,
    create_org_identity,
    load_identity_key,
    load_org_public,
    verify_identity_certificate,
)
from notary.durable import replace_file

if TYPE_CHECKING:
    from chain.backend import ClientTls
    from chain.contracts.registry import ConsortiumRegistryClient, ProposalInfo

__all__ = [
    "FILENAME",
    "FORMAT",
    "AdmissionError",
    "AdmissionRequest",
    "check_on_chain",
    "create_request",
    "join",
    "joined_ca",
    "joined_roles",
    "joined_sm2_ca",
    "load_request",
    "open_registry",
    "org_roles",
    "parse_request",
]

FORMAT: Final = "consortium-ledger/admission-request/v1"
#: Where :func:`join` writes the request, in the firm's own directory.
FILENAME: Final = "admission-request.json"
_DOMAIN: Final = FORMAT.encode("ascii") + b"\n"
_FINGERPRINT = re.compile(r"0x[0-9a-f]{64}")
_KEY_NAMES: Final = ("gateway", "witness", "log")
_REGISTRY, _DIRECTORY = "ConsortiumRegistry", "TrustDirectory"


class AdmissionError(NetworkError):
    """A request that does not hold together, is not for this consortium, or cannot be proposed on this chain."""


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """A firm's signed request to be admitted (see the module docstring for the file)."""

    consortium: str
    chain_id: int
    registry: str
    trust_directory: str | None
    org: OrgId
    name: str
    roles: Role
    account: str
    ca_cert_pem: str
    admin_cert_pem: str
    keys: Mapping[str, bytes]  # "gateway", and "witness" / "log" by the roles
    created_at: str
    signature: bytes
    sm2_ca_cert_pem: str | None = None  # the SM2 identity CA of a firm joining an ``sm`` consortium

    @property
    def sm2_ca_fingerprint(self) -> bytes | None:
        """SHA-256 of the SM2 identity CA certificate's DER, or None for a request without one."""
        return None if self.sm2_ca_cert_pem is None else hashlib.sha256(_sm2_der(self.sm2_ca_cert_pem)).digest()

    @property
    def ca_fingerprint(self) -> bytes:
        """SHA-256 of the CA certificate's DER: what the firm tells the members by another channel."""
        return _der_sha256(self.ca_cert_pem)

    @property
    def cert_fingerprint(self) -> bytes:
        """SHA-256 of the admin certificate's DER: what the proposal, and the registry, record."""
        return _der_sha256(self.admin_cert_pem)

    def body(self) -> dict[str, Any]:
        """Every field but the signature, in the file's JSON form."""
        return {
            "format": FORMAT,
            "consortium": {
                "name": self.consortium,
                "chain_id": self.chain_id,
                "registry": self.registry,
                "trust_directory": self.trust_directory,
            },
            "org": self.org,
            "name": self.name,
            "roles": [n.lower() for n in self.roles.names()],
            "account": self.account,
            "ca_cert_pem": self.ca_cert_pem,
            "ca_fingerprint": "0x" + self.ca_fingerprint.hex(),
            "admin_cert_pem": self.admin_cert_pem,
            "cert_fingerprint": "0x" + self.cert_fingerprint.hex(),
            "keys": {k: v.hex() for k, v in sorted(self.keys.items())},
            "created_at": self.created_at,
            **(
                {}
                if self.sm2_ca_fingerprint is None
                else {
                    "sm2_ca_cert_pem": self.sm2_ca_cert_pem,
                    "sm2_ca_fingerprint": "0x" + self.sm2_ca_fingerprint.hex(),
                }
            ),
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "signature": base64.b64encode(self.signature).decode("ascii")}

    def summary(self) -> list[str]:
        """What a member votes on, line by line."""
        keys = ", ".join(f"{k} {v.hex()[:16]}…" for k, v in sorted(self.keys.items()))
        return [
            f"org          {self.org}",
            f"name         {self.name}",
            f"roles        {', '.join(n.lower() for n in self.roles.names())}",
            f"account      {self.account}",
            f"CA           0x{self.ca_fingerprint.hex()}  {parse_cert(self.ca_cert_pem).subject.rfc4514_string()}",
            *(
                []
                if self.sm2_ca_fingerprint is None
                else [f"SM2 CA       0x{self.sm2_ca_fingerprint.hex()}  {_sm2_subject(self.sm2_ca_cert_pem)}"]
            ),
            f"admin cert   0x{self.cert_fingerprint.hex()}",
            f"keys         {keys}",
            f"signed       by Admin@{self.org} at {self.created_at}",
        ]

    def check_consortium(self, description: ConsortiumDescription) -> None:
        """Refuse a request written for another consortium: its chain id, registry or directory is not ours."""
        ours = (
            description.chain_id,
            description.contracts.get(_REGISTRY, "").lower(),
            (description.contracts.get(_DIRECTORY) or "").lower(),
        )
        theirs = (self.chain_id, self.registry.lower(), (self.trust_directory or "").lower())
        if theirs != ours:
            raise AdmissionError(
                f"the request of {self.org!r} is for consortium {self.consortium!r} on chain id {self.chain_id} "
                f"(registry {self.registry}), but this consortium, {description.name!r}, is chain id "
                f"{description.chain_id} (registry {description.contracts.get(_REGISTRY)}): it was made from "
                "another consortium.json; the firm joins again with this one"
            )
        if _suite_of(self.keys) != description.crypto:
            raise AdmissionError(
                f"the request's keys are of the {_suite_of(self.keys)!r} suite; this consortium runs "
                f"{description.crypto!r}"
            )

    def check_proposal(self, proposal: ProposalInfo) -> None:
        """Refuse a proposal that does not admit exactly what this request asks (before approving it)."""
        from chain.contracts.registry import ProposalKind

        if proposal.kind is not ProposalKind.ADMIT:
            kind = proposal.kind.name.lower()
            raise AdmissionError(f"proposal #{proposal.proposal_id} is a {kind}, not an admission")
        differences = [
            what
            for what, theirs, ours in (
                ("org", proposal.org, self.org),
                ("name", proposal.name, self.name),
                ("roles", proposal.roles, self.roles),
                ("certificate fingerprint", proposal.cert_fingerprint, self.cert_fingerprint),
                ("accounts", tuple(a.lower() for a in proposal.accounts), (self.account.lower(),)),
            )
            if theirs != ours
        ]
        if differences:
            raise AdmissionError(
                f"proposal #{proposal.proposal_id} does not admit what the request asks: its "
                f"{', '.join(differences)} differ"
            )


def create_request(
    directory: Path,
    description: ConsortiumDescription,
    org: OrgId,
    roles: Role,
    passphrase: bytes,
    *,
    now: datetime | None = None,
) -> AdmissionRequest:
    """The request of ``org`` (whose identity is in ``directory/orgs``) to join ``description``'s consortium, signed
    with its admin key."""
    public = load_org_public(directory, org)
    key = load_identity_key(directory, org, passphrase)
    name = display_name_of(parse_cert(public.ca_cert_pem))
    when = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    unsigned = AdmissionRequest(
        consortium=description.name,
        chain_id=description.chain_id,
        registry=description.contracts[_REGISTRY],
        trust_directory=description.contracts.get(_DIRECTORY),
        org=org,
        name=name,
        roles=roles,
        account=public.account,
        ca_cert_pem=public.ca_cert_pem,
        admin_cert_pem=public.admin_cert_pem,
        keys=_published_keys(public, roles),
        created_at=when,
        signature=b"",
        sm2_ca_cert_pem=public.sm2_ca_cert_pem if description.crypto == "sm" else None,
    )
    signature = key.sign(_signed_bytes(unsigned.body()), ec.ECDSA(hashes.SHA256()))
    return dataclasses.replace(unsigned, signature=signature)


def load_request(path: Path) -> AdmissionRequest:
    """Read a request file and check everything it says of itself (:class:`AdmissionError` naming what is wrong):
    the certificates, the fingerprints, the keys, and the admin key's signature over the rest."""
    data = _read_json(path)
    try:
        return parse_request(data)
    except AdmissionError as exc:
        raise AdmissionError(f"admission request {path}: {exc}") from None


def _read_json(path: Path) -> object:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AdmissionError(f"cannot read the admission request {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdmissionError(f"{path} is not an admission request (not JSON: {exc})") from None


def parse_request(data: object) -> AdmissionRequest:
    """The request of a parsed file, checked as :func:`load_request` says."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise AdmissionError(f"not an admission request (its format is not {FORMAT!r})")
    try:
        request = _fields(data)
    except (MalformedError, KeyError, TypeError, ValueError) as exc:
        raise AdmissionError(f"invalid field ({exc})") from None
    for what, field, value in (
        ("CA", "ca_fingerprint", request.ca_fingerprint),
        ("admin certificate", "cert_fingerprint", request.cert_fingerprint),
    ):
        if data.get(field) != "0x" + value.hex():
            raise AdmissionError(f"its {field} is not the SHA-256 of the {what} it holds: the file was altered")
    if request.sm2_ca_fingerprint is not None and data.get("sm2_ca_fingerprint") != (
        "0x" + request.sm2_ca_fingerprint.hex()
    ):
        raise AdmissionError(
            "its sm2_ca_fingerprint is not the SHA-256 of the SM2 identity CA it holds: the file was altered"
        )
    _check_certificates(request)
    if data.get("keys") != request.body()["keys"] or set(request.keys) != set(_key_names(request.roles)):
        raise AdmissionError(
            f"its keys must be exactly {', '.join(_key_names(request.roles))} for the roles it asks, in hex"
        )
    _check_signature(request)
    return request


def check_on_chain(request: AdmissionRequest, registry: ConsortiumRegistryClient) -> None:
    """Refuse a request whose org, or account, is already on chain (a member, or one removed: org ids are never
    reused)."""
    existing = registry.member(request.org)
    if existing is not None:
        raise AdmissionError(
            f"org {request.org!r} already exists on chain ({existing.status.name.lower()}, {existing.name!r}): "
            "an org id is admitted once"
        )
    owner = registry.org_of(request.account)
    if owner is not None:
        raise AdmissionError(f"account {request.account} already belongs to {owner!r} on chain")


def open_registry(
    description: ConsortiumDescription, url: str, source: str, tls: ClientTls | None = None
) -> ConsortiumRegistryClient:
    """The registry of ``description`` on the chain at ``url``, once that chain is shown to be the description's: its
    chain id, and a contract at the registry's address (``source`` names the description in the errors). ``tls``:
    for an https node (a firm not yet admitted presents no certificate: a node serving members only refuses it)."""
    from chain.backend import RpcBackend
    from chain.contracts import Deployment

    backend = RpcBackend(url, tls=tls)
    if backend.chain_id != description.chain_id:
        raise AdmissionError(
            f"the chain at {url} has chain id {backend.chain_id}, but {source} describes chain id "
            f"{description.chain_id}: another chain, or another consortium's description"
        )
    address = description.contracts[_REGISTRY]
    if not backend.web3.eth.get_code(backend.web3.to_checksum_address(address)):
        raise AdmissionError(f"no ConsortiumRegistry at {address} on the chain at {url}: {source} is another chain's")
    return Deployment(description.contracts).registry(backend)


def join(
    directory: Path,
    description: ConsortiumDescription,
    org: OrgId,
    name: str,
    roles: Role,
    passphrase: bytes,
    *,
    registry: ConsortiumRegistryClient | None = None,
    now: datetime | None = None,
) -> tuple[AdmissionRequest, Path]:
    """Make ``directory`` (new or empty) the firm's own: ``consortium.json`` as given (the chain's URL the one
    that reached ``registry``), the identity of ``org`` under ``orgs/`` and the signed request; return the request
    and its path. With ``registry``, refuse an org or account already on chain first. Refuses a non-empty
    directory, a founder's org id; a failure leaves the directory as it found it."""
    check_name(org, "org id")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise AdmissionError(
            f"{directory} already exists and is not empty: a firm joins from a directory of its own; nothing was "
            "changed"
        )
    if any(m.org == org for m in description.members):
        raise AdmissionError(f"org {org!r} is a founding member of {description.name!r}: choose another org id")
    existing = None if registry is None else registry.member(org)
    if existing is not None:
        raise AdmissionError(
            f"org {org!r} already exists on chain ({existing.status.name.lower()}): choose another org id"
        )
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        description.write(directory)
        create_org_identity(directory, org, name, passphrase, now, crypto=description.crypto)
        request = create_request(directory, description, org, roles, passphrase, now=now)
        path = directory / FILENAME
        replace_file(path, _file_bytes(request), PUBLIC_FILE_MODE)
    except BaseException:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            for child in directory.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    return request, path


def joined_roles(directory: Path, org: str) -> Role | None:
    """The roles ``org`` asked for in the request in ``directory`` (a directory made by :func:`join` for it); None
    where there is none. The registry admits exactly those roles, so the firm's own commands take them from here
    rather than from ``consortium.json``, which lists the founders only."""
    request = _joined_request(directory, org)
    return None if request is None else request.roles


def joined_sm2_ca(directory: Path, org: str) -> tuple[bool, str | None]:
    """``(joined, SM2 CA PEM)``: whether ``directory`` holds the admission request of ``org``, and the SM2
    identity CA (PEM) that request carries (None for a request without one, or no request)."""
    request = _joined_request(directory, org)
    return (False, None) if request is None else (True, request.sm2_ca_cert_pem)


def joined_ca(directory: Path, org: str) -> str | None:
    """The CA certificate (PEM) of ``org`` in the request in ``directory``: the CA the members admitted it with,
    which a CA it rotated to since links back to by its cross certificates (``identity rotate-ca``); None where
    there is no request of ``org``. What ``consortium.json`` is to a founder's CA, for the firm's own commands."""
    request = _joined_request(directory, org)
    return None if request is None else request.ca_cert_pem


def _joined_request(directory: Path, org: str) -> AdmissionRequest | None:
    path = directory / FILENAME
    if not path.is_file():
        return None
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise AdmissionError(f"{path} is not an admission request (its format is not {FORMAT!r})")
    try:  # the firm's own file, read for its roles and CA: not its signature, nor its certificates' validity today
        request = _fields(data)
    except (MalformedError, KeyError, TypeError, ValueError) as exc:
        raise AdmissionError(f"admission request {path}: invalid field ({exc})") from None
    return request if request.org == org else None


def known_roles(directory: Path, description: ConsortiumDescription, org: str) -> Role | None:
    """The roles of ``org`` as this directory knows them: a founder's from ``consortium.json``, a joined firm's
    from its own request; None for neither."""
    for member in description.members:
        if member.org == org:
            return member.roles
    return joined_roles(directory, org)


def org_roles(directory: Path, description: ConsortiumDescription, org: str) -> Role:
    """:func:`known_roles`, and :class:`MalformedError` (the message a command shows) for neither."""
    roles = known_roles(directory, description, org)
    if roles is not None:
        return roles
    known = ", ".join(m.org for m in description.members)
    raise MalformedError(
        f"no member {org!r} in {DESCRIPTION_FILENAME} (members: {known}), and {directory} holds no admission request "
        f"of {org!r} (`consortium member join`)"
    )


# ---------------------------------------------------------------------------------------------- helpers


def _published_keys(public: OrgPublic, roles: Role) -> dict[str, bytes]:
    keys = {"gateway": public.gateway_public_key}
    if Role.WITNESS in roles:
        keys["witness"] = public.witness_public_key
    if Role.NOTARY in roles:
        keys["log"] = public.notary_public_key
    return keys


def _key_names(roles: Role) -> tuple[str, ...]:
    needs = (None, Role.WITNESS, Role.NOTARY)
    return tuple(k for k, role in zip(_KEY_NAMES, needs, strict=True) if role is None or role in roles)


def _suite_of(keys: Mapping[str, bytes]) -> str:
    return "sm" if len(keys["gateway"]) == 65 else "intl"


def _sm2_der(pem: str) -> bytes:
    from suite.x509 import Certificate

    return Certificate.from_pem(pem.encode("ascii")).der


def _sm2_subject(pem: str | None) -> str:
    from suite.x509 import Certificate

    return "" if pem is None else Certificate.from_pem(pem.encode("ascii")).subject


def _der_sha256(pem: str) -> bytes:
    return hashlib.sha256(parse_cert(pem).public_bytes(serialization.Encoding.DER)).digest()


def _signed_bytes(body: Mapping[str, Any]) -> bytes:
    """What the admin key signs: the format line, then the canonical JSON of the body (sorted keys, no spaces)."""
    return _DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _file_bytes(request: AdmissionRequest) -> bytes:
    return (json.dumps(request.to_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _fields(data: Mapping[str, Any]) -> AdmissionRequest:
    consortium = data["consortium"]
    if not isinstance(consortium, dict):
        raise TypeError("consortium must be an object")
    roles = data["roles"]
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        raise TypeError("roles must be a non-empty list of role names")
    keys = data["keys"]
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise TypeError("keys must map key names to hex")
    for what in ("ca_fingerprint", "cert_fingerprint"):
        if not isinstance(data[what], str) or _FINGERPRINT.fullmatch(data[what]) is None:
            raise ValueError(f"{what} must be 0x and 64 lower-case hex digits")
    directory = consortium.get("trust_directory")
    sm2_ca = data.get("sm2_ca_cert_pem")
    if sm2_ca is not None:
        fingerprint = data.get("sm2_ca_fingerprint")
        if not isinstance(fingerprint, str) or _FINGERPRINT.fullmatch(fingerprint) is None:
            raise ValueError("sm2_ca_fingerprint must be 0x and 64 lower-case hex digits")
        sm2_ca = check_sm2_ca_pem(_text(data, "sm2_ca_cert_pem"), check_name(_text(data, "org"), "org id"))
    elif "sm2_ca_fingerprint" in data:
        raise ValueError("sm2_ca_fingerprint without sm2_ca_cert_pem")
    request = AdmissionRequest(
        consortium=_text(consortium, "name"),
        chain_id=_integer(consortium, "chain_id"),
        registry=_text(consortium, "registry"),
        trust_directory=None if directory is None else str(directory),
        org=OrgId(check_name(_text(data, "org"), "org id")),
        name=_text(data, "name"),
        roles=Role.parse(roles),
        account=_text(data, "account"),
        ca_cert_pem=_text(data, "ca_cert_pem"),
        admin_cert_pem=_text(data, "admin_cert_pem"),
        keys={k: bytes.fromhex(v) for k, v in keys.items()},
        created_at=_text(data, "created_at"),
        signature=base64.b64decode(_text(data, "signature"), validate=True),
        sm2_ca_cert_pem=sm2_ca,
    )
    # the public identity's own checks: one certificate each with OU=<org>, the account's checksum, key sizes
    OrgPublic(
        org_id=request.org,
        ca_cert_pem=request.ca_cert_pem,
        admin_cert_pem=request.admin_cert_pem,
        cert_fingerprint=request.cert_fingerprint,
        account=request.account,
        witness_public_key=request.keys.get("witness", request.keys["gateway"]),
        gateway_public_key=request.keys["gateway"],
        notary_public_key=request.keys.get("log", request.keys["gateway"]),
        sm2_ca_cert_pem=request.sm2_ca_cert_pem,  # refused beside Ed25519 keys: an 'intl' member has none
    )
    if len(set(roles)) != len(roles):
        raise ValueError(f"roles {roles!r} name a role twice")
    return request


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _integer(data: Mapping[str, Any], key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} must be an integer")
    return value


def _check_certificates(request: AdmissionRequest) -> None:
    ca = parse_cert(request.ca_cert_pem, "CA certificate")
    try:
        verify_identity_certificate(request.admin_cert_pem, request.ca_cert_pem)
        ca.verify_directly_issued_by(ca)
    except CertificateError as exc:
        raise AdmissionError(f"its admin certificate does not hold: {exc}") from None
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        raise AdmissionError("its CA certificate is not self-signed") from None
    if org_units(ca) != [request.org]:
        raise AdmissionError(f"its CA certificate is not for org {request.org!r}")
    if display_name_of(ca) != request.name:
        raise AdmissionError(
            f"its name {request.name!r} is not the one its CA certificate names ({display_name_of(ca)!r})"
        )
    if request.sm2_ca_cert_pem is not None:
        from network._sm2ca import attributes
        from suite.x509 import Certificate

        names = attributes(Certificate.from_pem(request.sm2_ca_cert_pem.encode("ascii")), "organization_name")
        if names != [request.name]:
            raise AdmissionError(f"its SM2 identity CA names another firm ({names!r}) than {request.name!r}")


def _check_signature(request: AdmissionRequest) -> None:
    key = x509.load_pem_x509_certificate(request.admin_cert_pem.encode("ascii")).public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise AdmissionError("its admin certificate's key is not an ECDSA key")
    try:
        key.verify(request.signature, _signed_bytes(request.body()), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AdmissionError(
            f"its signature does not verify with the key of Admin@{request.org}: the file was altered after it "
            "was signed, or not signed by that key"
        ) from None
