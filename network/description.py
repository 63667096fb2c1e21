"""``consortium.json``: the public description of a consortium that every member, auditor and regulator may hold.

It names the chain (id and where to reach it), the contract addresses, the governance settings, the
cryptographic suite of the consortium's log (``crypto``: ``intl`` or ``sm``, chosen at ``consortium init`` and
kept for life; a file without the field is ``intl``, as every file was before the field existed) and, per
founding member, its roles, certificates and public keys (the witness, gateway and log keys of the suite). It
holds no secret. The chain stays the source of truth for membership after genesis; this file is what a verifier
needs to start from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chain.errors import MalformedError
from chain.ids import OrgId, Role
from contracts import CONTRACT_NAMES
from network.errors import NetworkError
from network.identity import OrgPublic
from notary.event import QueryVisibility

if TYPE_CHECKING:
    from notary.logsuite import LogSuite

FORMAT = "consortium-ledger/1"
FILENAME = "consortium.json"
#: Contracts a consortium created before they existed lacks: its file is read without them.
OPTIONAL_CONTRACTS = frozenset({"TrustDirectory"})
#: The suite of a consortium.json without a ``crypto`` field.
DEFAULT_CRYPTO = "intl"


@dataclass(frozen=True, slots=True)
class MemberDescription:
    org: OrgId
    name: str
    roles: Role
    identity: OrgPublic

    def to_json(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "name": self.name,
            "roles": [n.lower() for n in self.roles.names()],
            **{k: v for k, v in self.identity.to_json().items() if k != "org_id"},
        }


@dataclass(frozen=True, slots=True)
class RetiredAnchor:
    """An AuditAnchor the consortium anchored on before it moved to another (``consortium notary migrate-anchor``,
    docs/national-suite.md): its ``address``, and the last anchor of the log it held then (``last_size`` and
    ``last_root``, 0 and None if it held none). Verifiers take its anchors up to ``last_size`` and no others."""

    address: str
    last_size: int
    last_root: bytes | None

    def to_json(self) -> dict[str, Any]:
        root = None if self.last_root is None else "0x" + self.last_root.hex()
        return {"address": self.address, "last_size": self.last_size, "last_root": root}

    @classmethod
    def from_json(cls, data: Any) -> RetiredAnchor:
        where = f"{FILENAME}: retired_anchors"
        if not isinstance(data, dict):
            raise MalformedError(f"{where}: each must be an object with address, last_size and last_root")
        address, size, root = data.get("address"), data.get("last_size"), data.get("last_root")
        if not (isinstance(address, str) and len(address) == 42 and address.startswith("0x")):
            raise MalformedError(f"{where}: address must be a 0x-hex contract address, not {str(address)[:50]!r}")
        int(address, 16)
        if type(size) is not int or size < 0:
            raise MalformedError(f"{where}: last_size must be a tree size (an integer >= 0), not {str(size)[:40]!r}")
        if root is None:
            if size:
                raise MalformedError(f"{where}: last_size {size} needs the root of that anchor (last_root)")
            return cls(address, 0, None)
        if not (isinstance(root, str) and len(root) == 66 and root.startswith("0x")) or not size:
            raise MalformedError(f"{where}: last_root must be 0x and 64 hex digits, for a last_size above 0")
        return cls(address, size, bytes.fromhex(root[2:]))


@dataclass(frozen=True, slots=True)
class ConsortiumDescription:
    name: str
    chain_id: int
    chain_kind: str  # "local": the chain `consortium up` runs; "external": a JSON-RPC network run elsewhere
    chain_url: str
    contracts: dict[str, str]
    deployed_at_block: int
    admission_threshold: int
    proposal_ttl_days: int
    witness_policy: dict[str, Any]
    members: tuple[MemberDescription, ...]
    crypto: str = DEFAULT_CRYPTO  # the suite of the log: "intl" or "sm" (docs/national-suite.md)
    #: ``audit.regulator_queries_visible_to_subject``: whether a firm sees the regulator's explorer queries of its
    #: data (off by default: an investigation is not announced to its subject; docs/confidentiality.md).
    regulator_queries_visible_to_subject: bool = False
    #: Where ``consortium up`` last started the notary and the explorer (``"notary": {"url": ...}``, ``"explorer":
    #: {"url": ...}``): the commands that talk to them read these when given no ``--notary-url``. None until an
    #: ``up``, or for a consortium whose services run elsewhere.
    notary_url: str | None = None
    explorer_url: str | None = None
    #: The genesis of the consortium's own chain (``chain.node.node.Genesis`` as JSON) and ``hash``, the hash of
    #: the block it makes: what a firm that joins later starts its node from. None on an external chain, and in a
    #: file written before ``init`` recorded it.
    genesis: dict[str, Any] | None = None
    #: The AuditAnchors anchored on before ``contracts.AuditAnchor``, oldest first, each with its last anchor:
    #: verifiers check anchors there up to that size (``consortium notary migrate-anchor``).
    retired_anchors: tuple[RetiredAnchor, ...] = ()

    def __post_init__(self) -> None:
        if self.crypto not in ("intl", "sm"):
            raise MalformedError(f"{FILENAME}: crypto must be 'intl' or 'sm', not {str(self.crypto)[:40]!r}")
        for m in self.members:
            if m.identity.suite != self.crypto:
                raise MalformedError(
                    f"{FILENAME}: the consortium's crypto is {self.crypto!r}, but member {m.org!r} has keys of the "
                    f"{m.identity.suite!r} suite ({'SM2' if m.identity.suite == 'sm' else 'Ed25519'}): every "
                    "witness, gateway and log key of a consortium is of its suite"
                )

    @property
    def suite(self) -> LogSuite:
        """The log suite (``notary.logsuite``) the notary, witnesses, gateways and verifiers use."""
        from notary.logsuite import log_suite

        return log_suite(self.crypto)

    def query_visibility(self, regulators: Collection[str] | None = None) -> QueryVisibility:
        """Who sees the explorer's query events beyond the querying firm: the regulator orgs, and whether the
        ``audit`` policy shows a firm the regulator's queries of its data (``notary.event.parties``).
        ``regulators``: who is a regulator now (``network.logsetup.regulator_orgs``: the chain's, for a service
        following a TrustDirectory); None, the members of this file with the role."""
        if regulators is None:
            regulators = frozenset(m.org for m in self.members if Role.REGULATOR in m.roles)
        return QueryVisibility(frozenset(regulators), self.regulator_queries_visible_to_subject)

    def member(self, org: str) -> MemberDescription:
        for m in self.members:
            if m.org == org:
                return m
        known = ", ".join(m.org for m in self.members)
        raise MalformedError(f"no member {org!r} in {FILENAME} (members: {known})")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "crypto": self.crypto,
            "chain": {"id": self.chain_id, "kind": self.chain_kind, "url": self.chain_url},
            "contracts": dict(self.contracts),
            "deployed_at_block": self.deployed_at_block,
            "admission_threshold": self.admission_threshold,
            "proposal_ttl_days": self.proposal_ttl_days,
            "witness_policy": self.witness_policy,
            **(
                {"audit": {"regulator_queries_visible_to_subject": True}}
                if self.regulator_queries_visible_to_subject
                else {}
            ),
            **({"notary": {"url": self.notary_url}} if self.notary_url is not None else {}),
            **({"explorer": {"url": self.explorer_url}} if self.explorer_url is not None else {}),
            **({"genesis": dict(self.genesis)} if self.genesis is not None else {}),
            **({"retired_anchors": [r.to_json() for r in self.retired_anchors]} if self.retired_anchors else {}),
            "members": [m.to_json() for m in self.members],
        }

    def service_url(self, service: str, given: str | None = None) -> str:
        """Where ``service`` (``notary`` or ``explorer``) runs: ``given`` (a command's ``--notary-url``) if not
        None, else the URL ``consortium up`` recorded here. Raises :class:`ServiceNotRecordedError` with neither:
        a fixed default port could be another consortium's."""
        if given is not None:
            return given
        recorded = {"notary": self.notary_url, "explorer": self.explorer_url}[service]
        if recorded is None:
            raise ServiceNotRecordedError(
                f"{FILENAME} records no {service} URL: start the consortium with `consortium up DIR` (which records "
                f"where its {service} runs) or pass --{service}-url"
            )
        return recorded

    @classmethod
    def from_json(cls, data: Any) -> ConsortiumDescription:
        try:
            if data.get("format") != FORMAT:
                raise MalformedError(f"{FILENAME}: format must be {FORMAT!r}, got {data.get('format')!r}")
            chain = data["chain"]
            contracts = {
                name: str(data["contracts"][name])
                for name in CONTRACT_NAMES
                if name not in OPTIONAL_CONTRACTS or name in data["contracts"]
            }
            members = tuple(
                MemberDescription(
                    OrgId(m["org"]),
                    str(m["name"]),
                    Role.parse(m["roles"]),
                    OrgPublic.from_json({**m, "org_id": m["org"]}),
                )
                for m in data["members"]
            )
            crypto = data.get("crypto", DEFAULT_CRYPTO)
            if crypto not in ("intl", "sm"):
                raise MalformedError(f"{FILENAME}: crypto must be 'intl' or 'sm', not {str(crypto)[:40]!r}")
            if chain["kind"] not in ("local", "external"):
                raise MalformedError(f"{FILENAME}: chain.kind must be 'local' or 'external'")
            subjects_see = dict(data.get("audit", {})).get("regulator_queries_visible_to_subject", False)
            if type(subjects_see) is not bool:
                raise MalformedError(f"{FILENAME}: audit.regulator_queries_visible_to_subject must be true or false")
            services = {name: _service_url(data, name) for name in ("notary", "explorer")}
            genesis = data.get("genesis")
            if genesis is not None and not (isinstance(genesis, dict) and isinstance(genesis.get("hash"), str)):
                raise MalformedError(f"{FILENAME}: genesis must be an object with the genesis block's hash")
            retired = data.get("retired_anchors", [])
            if not isinstance(retired, list):
                raise MalformedError(f"{FILENAME}: retired_anchors must be a list")
            return cls(
                str(data["name"]),
                int(chain["id"]),
                chain["kind"],
                str(chain["url"]),
                contracts,
                int(data["deployed_at_block"]),
                int(data["admission_threshold"]),
                int(data["proposal_ttl_days"]),
                dict(data["witness_policy"]),
                members,
                crypto,
                subjects_see,
                services["notary"],
                services["explorer"],
                None if genesis is None else dict(genesis),
                tuple(RetiredAnchor.from_json(r) for r in retired),
            )
        except MalformedError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedError(f"{FILENAME}: missing or invalid field ({exc.__class__.__name__}: {exc})") from exc

    def write(self, directory: Path) -> Path:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        path = directory / FILENAME
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        tmp.replace(path)
        return path


class ServiceNotRecordedError(NetworkError):
    """A command needs the URL of a service that neither its option nor consortium.json gives."""


def _service_url(data: dict[str, Any], name: str) -> str | None:
    if name not in data:
        return None
    url = data[name].get("url") if isinstance(data[name], dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2048:
        raise MalformedError(f"{FILENAME}: {name}.url must be an http:// or https:// URL")
    return url


def load_description(directory: Path) -> ConsortiumDescription:
    path = directory / FILENAME
    if not path.is_file():
        raise MalformedError(f"{path} not found: run `consortium init {directory}` first, or pass the right --dir")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedError(f"{path} is not valid JSON: {exc}") from exc
    return ConsortiumDescription.from_json(data)
