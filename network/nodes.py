"""The consortium's chain nodes in one directory: one per validating member, and the regulator's.

Every member holding the VALIDATOR role runs a node that votes in QBFT; the regulator runs one that votes in
nothing and checks every block (seals, re-execution), so that it trusts no member's word for the chain. In the
demo all of them live in one directory, each with its own store:

- ``nodes/<org>/genesis.json``: the same genesis in every node (chain id, the validators, the operator);
- ``nodes/<org>/chaindata/`` and ``nodes/<org>/node.log``: the node's own store and log;
- ``nodes/nodes.json``: which orgs run a node, which of them validate, and (once ``consortium up`` ran) the
  JSON-RPC and peer URLs each was last started on;
- ``nodes/ca-bundle.pem``: the member CAs a node accepts peers' certificates from;
- ``orgs/<org>/node/tls/``: the node's TLS certificate (server and client) and its encrypted key.

A firm running its own node on its own machine needs only its own ``nodes/<org>`` directory, its keys and the
bundle (README, "Production deployment"); a firm admitted after ``init`` gets them written into the directory it
joined from by :func:`prepare_member_node`, its genesis from ``consortium.json`` checked against the chain
(:func:`member_genesis`). Where each node runs is on chain too, as the members' node endpoints
(``docs/trust.md``, "Nodes from the chain"): ``init`` writes the founders' (:func:`default_endpoints`).

A consortium with a single node (one validator, no regulator) keeps the layout from before the network:
``chain/``, sealed alone.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chain.ids import OrgId, Role
from network.errors import NetworkError
from network.identity import issue_node_certificate

if TYPE_CHECKING:
    from chain.backend import RpcBackend
    from chain.node.node import Genesis
    from network.description import ConsortiumDescription

NODES_DIR = "nodes"
NODES_FILE = "nodes.json"
PEER_CA_FILE = "ca-bundle.pem"
#: The layout of a consortium with one node, and of every directory made before the chain had several.
SINGLE_CHAIN_DIR = "chain"
#: With ``consortium up --port PORT``, the first node (the operator's) serves JSON-RPC on PORT; node ``i`` > 0 on
#: PORT + RPC_OFFSET + i; node ``i``'s peer server listens on PORT + PEER_OFFSET + i.
RPC_OFFSET = 30
PEER_OFFSET = 50
#: ``consortium up``'s default ``--port``: ``init`` publishes the founders' node endpoints where ``up`` then starts
#: them (``up`` with another port publishes the new ones, ``publish_endpoints``).
DEFAULT_UP_PORT = 8545
MAX_NODES = 10


class NodesError(NetworkError):
    """The directory's nodes are missing or inconsistent (the message says what to do)."""


@dataclass(frozen=True)
class NodeEntry:
    """One chain node of the consortium, as ``nodes.json`` lists it."""

    org: OrgId
    validator: bool
    rpc_url: str = ""
    peer_url: str = ""

    @property
    def role(self) -> str:
        return "validator" if self.validator else "follower"


@dataclass(frozen=True)
class NodeSpec:
    """Where one node runs when ``consortium up`` (or ``init``) starts it."""

    entry: NodeEntry
    chain_dir: Path
    rpc_port: int
    peer_port: int
    #: "https" for a node serving its JSON-RPC to members only (``consortium up --rpc-tls``)
    rpc_scheme: str = "http"

    @property
    def org(self) -> OrgId:
        return self.entry.org

    @property
    def rpc_url(self) -> str:
        return f"{self.rpc_scheme}://127.0.0.1:{self.rpc_port}"

    @property
    def peer_url(self) -> str:
        return f"https://127.0.0.1:{self.peer_port}"


def node_entries(members: Sequence[tuple[OrgId, Role]]) -> list[NodeEntry]:
    """The nodes a consortium runs, from its members and their roles: the operator's first (it serves the
    consortium's own components), then the other validators in member order, then each regulator that does not
    validate. Refuses a consortium without a validator, or with more than :data:`MAX_NODES` nodes."""
    validators = [org for org, roles in members if Role.VALIDATOR in roles]
    if not validators:
        raise NodesError("no member holds the validator role: the chain needs at least one validator")
    operators = [org for org in validators if Role.OPERATOR in dict(members)[org]]
    ordered = operators[:1] + [org for org in validators if org not in operators[:1]]
    entries = [NodeEntry(org, True) for org in ordered]
    entries += [NodeEntry(org, False) for org, roles in members if Role.REGULATOR in roles and org not in validators]
    if len(entries) > MAX_NODES:
        raise NodesError(f"{len(entries)} nodes (validators and regulators): at most {MAX_NODES} are supported")
    return entries


def is_network(directory: Path) -> bool:
    """Whether ``directory`` runs several nodes (``nodes/``) rather than one (``chain/``)."""
    return (directory / NODES_DIR / NODES_FILE).is_file()


def node_dir(directory: Path, org: str) -> Path:
    return directory / NODES_DIR / org


def read_nodes(directory: Path) -> list[NodeEntry]:
    """The entries of ``nodes/nodes.json``; :class:`NodesError` when it is missing or not what it should be."""
    path = directory / NODES_DIR / NODES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = [
            NodeEntry(OrgId(str(n["org"])), bool(n["validator"]), str(n.get("rpc_url", "")), str(n.get("peer_url", "")))
            for n in data["nodes"]
        ]
    except FileNotFoundError:
        raise NodesError(f"{path} not found: this consortium runs a single node in {directory / 'chain'}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NodesError(f"{path} is unreadable or malformed ({exc}): restore it from a backup") from None
    if not entries:
        raise NodesError(f"{path} lists no node")
    return entries


def write_nodes(directory: Path, entries: Sequence[NodeEntry]) -> Path:
    """Write ``nodes/nodes.json`` atomically."""
    path = directory / NODES_DIR / NODES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "nodes": [
            {"org": e.org, "role": e.role, "validator": e.validator, "rpc_url": e.rpc_url, "peer_url": e.peer_url}
            for e in entries
        ]
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def default_chain_dir(directory: Path, org: str | None = None) -> Path:
    """The chain directory a command on ``directory`` means: ``chain/`` in a single-node consortium; else the
    node of ``org``, or by default the first node (the operator's)."""
    if not is_network(directory):
        return directory / SINGLE_CHAIN_DIR
    entries = read_nodes(directory)
    if org is None:
        return node_dir(directory, entries[0].org)
    if org not in {e.org for e in entries}:
        raise NodesError(f"{org} runs no node here: the nodes are {', '.join(e.org for e in entries)}")
    return node_dir(directory, org)


def create_nodes(
    directory: Path,
    members: Sequence[tuple[OrgId, Role]],
    accounts: dict[OrgId, str],
    operator_account: str,
    chain_id: int,
    ca_certs_pem: Sequence[str],
    passphrase: bytes,
) -> list[NodeEntry]:
    """Write each node's genesis, the node TLS certificates and the peer CA bundle; return the nodes.

    One node only (a single validator, no regulator): its genesis goes to ``chain/`` and nothing else is
    written, as before the chain had several nodes."""
    from chain.node.node import Genesis  # py-evm: only to create a chain
    from chain.node.service import write_genesis

    entries = node_entries(members)
    validators = tuple(accounts[e.org] for e in entries if e.validator)
    # the registry decides later sets: admitting, removing or freezing a validator edits no file anywhere
    genesis = Genesis(chain_id, validators, operator_account, int(time.time()), validator_contract=True)
    if len(entries) == 1:
        write_genesis(directory / SINGLE_CHAIN_DIR, genesis, entries[0].org)
        return entries
    for e in entries:
        write_genesis(node_dir(directory, e.org), genesis, e.org)
        issue_node_certificate(directory, e.org, passphrase)
    (directory / NODES_DIR / PEER_CA_FILE).write_text("".join(ca_certs_pem), encoding="ascii")
    write_nodes(directory, entries)
    return entries


def plan(
    directory: Path, entries: Sequence[NodeEntry], ports: Sequence[tuple[int, int]], rpc_scheme: str = "http"
) -> list[NodeSpec]:
    """Specs of ``entries`` on the given (JSON-RPC port, peer port) pairs, serving JSON-RPC over ``rpc_scheme``."""
    return [
        NodeSpec(e, node_dir(directory, e.org), rpc, peer, rpc_scheme)
        for e, (rpc, peer) in zip(entries, ports, strict=True)
    ]


def default_endpoints(entries: Sequence[NodeEntry], port: int = DEFAULT_UP_PORT) -> dict[OrgId, str]:
    """The peer URL of each node of ``entries`` under ``consortium up --port PORT``: what ``init`` writes on chain
    as the founders' node endpoints. None for a consortium of one node (it has no peer server)."""
    if len(entries) < 2:
        return {}
    ports = up_ports(port, len(entries))
    return {e.org: f"https://127.0.0.1:{peer}" for e, (_, peer) in zip(entries, ports, strict=True)}


def up_ports(port: int, count: int) -> list[tuple[int, int]]:
    """The ports of ``consortium up --port PORT``: see :data:`RPC_OFFSET`."""
    return [(port if i == 0 else port + RPC_OFFSET + i, port + PEER_OFFSET + i) for i in range(count)]


def node_arguments(directory: Path, spec: NodeSpec, specs: Sequence[NodeSpec]) -> list[str]:
    """The options of ``consortium node`` for ``spec`` in the network of ``specs``: its org, its peer server and
    every other node's, and the TLS files."""
    from network.identity import OrgPaths

    paths = OrgPaths.of(directory, spec.org)
    args = ["--org", spec.org, "--peer-port", str(spec.peer_port)]
    for other in specs:
        if other is not spec:
            args += ["--peer", other.peer_url]
    args += ["--peer-cert", str(paths.node_tls_cert), "--peer-key", str(paths.node_tls_key)]
    args += ["--peer-ca", str(directory / NODES_DIR / PEER_CA_FILE)]
    return args


class GenesisMismatchError(NodesError):
    """The genesis a firm would start its node from does not make the chain's first block (the message says which
    check failed: ``consortium.json``'s record, or the chain at the URL)."""


def member_genesis(description: ConsortiumDescription, backend: RpcBackend) -> Genesis:
    """The genesis of the consortium's chain for a node started from a member's directory: ``consortium.json``'s
    (``genesis``, recorded by ``init``), else rebuilt from the chain's block 0 (its timestamp, gas limit and
    validators) and the operator ``consortium.json`` names. Either way the block it makes must hash to the
    chain's block 0 (read through ``backend``), and to the hash ``consortium.json`` records when it records one;
    the operator must be the one whose first contract is the description's ConsortiumRegistry.
    :class:`GenesisMismatchError` otherwise."""
    from eth.db.atomic import AtomicDB
    from eth_utils.address import to_canonical_address, to_checksum_address

    from chain.ids import contract_address
    from chain.node.node import Genesis, Node
    from chain.qbft.extradata import ExtraData

    block = backend.request("eth_getBlockByNumber", ["0x0", False])  # raw: web3's PoA middleware drops extraData
    if not isinstance(block, dict):
        raise GenesisMismatchError("the chain has no block 0")
    on_chain = bytes.fromhex(str(block["hash"]).removeprefix("0x"))
    recorded: bytes | None = None
    if description.genesis is not None:
        data = {k: v for k, v in description.genesis.items() if k != "hash"}
        try:
            genesis = Genesis.from_json(json.dumps(data))
            recorded = bytes.fromhex(str(description.genesis["hash"]).removeprefix("0x"))
        except (KeyError, TypeError, ValueError) as exc:
            raise GenesisMismatchError(
                f"consortium.json's genesis is malformed ({exc}): ask a member for the file"
            ) from None
        where = "consortium.json's genesis"
    else:
        operator = next((m for m in description.members if Role.OPERATOR in m.roles), None)
        if operator is None:
            raise GenesisMismatchError("consortium.json names no operator: the genesis cannot be rebuilt")
        validators = ExtraData.decode(bytes.fromhex(str(block["extraData"]).removeprefix("0x"))).validators
        genesis = Genesis(
            description.chain_id,
            tuple(to_checksum_address(v) for v in validators),
            to_checksum_address(operator.identity.account),
            int(str(block["timestamp"]), 16),
            int(str(block["gasLimit"]), 16),
            validator_contract=True,
        )
        where = "the genesis rebuilt from the chain's block 0"
    if genesis.chain_id != description.chain_id:
        raise GenesisMismatchError(
            f"{where} is of chain {genesis.chain_id}, consortium.json says {description.chain_id}"
        )
    registry = description.contracts.get("ConsortiumRegistry", "")
    if contract_address(to_canonical_address(genesis.operator), 0) != to_canonical_address(registry):
        raise GenesisMismatchError(
            f"{where} names operator {genesis.operator}, whose first contract is not consortium.json's "
            f"ConsortiumRegistry {registry}"
        )
    computed = bytes(Node(AtomicDB(), genesis).head().hash)
    if recorded is not None and computed != recorded:
        raise GenesisMismatchError(
            f"{where} makes block 0x{computed.hex()}, but consortium.json records 0x{recorded.hex()}: the file was "
            "altered; ask a member for it again"
        )
    if computed != on_chain:
        raise GenesisMismatchError(
            f"{where} makes block 0x{computed.hex()}, but the chain's block 0 is 0x{on_chain.hex()}: this chain URL "
            "is not the consortium's chain"
        )
    return genesis


def prepare_member_node(
    directory: Path, org: OrgId, description: ConsortiumDescription, backend: RpcBackend, passphrase: bytes
) -> Path:
    """Make ``directory`` (a firm's own, e.g. the one it joined from) ready to run ``org``'s node: its genesis in
    ``nodes/<org>/genesis.json`` (:func:`member_genesis`), its node certificate (``orgs/<org>/node/tls/``) and the
    CA bundle its peer links start with (``nodes/ca-bundle.pem``: the founders' CAs of ``consortium.json`` and its
    own; the CAs of members admitted later come from the chain while the node runs). What exists already is kept.
    Returns the node's chain directory."""
    from chain.node.service import GENESIS_FILE, write_genesis
    from network.identity import OrgPaths, load_org_public

    chain_dir = node_dir(directory, org)
    if not (chain_dir / GENESIS_FILE).is_file():
        write_genesis(chain_dir, member_genesis(description, backend), org, new=False)  # at the node's start
    paths = OrgPaths.of(directory, org)
    if not (paths.node_tls_cert.is_file() and paths.node_tls_key.is_file()):
        issue_node_certificate(directory, org, passphrase)
    bundle = directory / NODES_DIR / PEER_CA_FILE
    if not bundle.is_file():
        own = load_org_public(directory, org).ca_cert_pem
        pems = [m.identity.ca_cert_pem for m in description.members if m.org != org] + [own]
        bundle.write_text("".join(pems), encoding="ascii")
    return chain_dir
