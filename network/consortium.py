"""Creating a consortium (``consortium init``) and opening an existing one for any command.

``init`` generates every member's identity, deploys the contracts to the chain (the local chain, started for
the occasion, or an external JSON-RPC network), registers the founding members and, for the demo, loads the
service catalogue, data assets and grants. A failure leaves no directory behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chain.backend import Backend, ClientTls, RpcBackend
from chain.contracts import (
    AccessGrantsClient,
    AuditAnchorClient,
    ConsortiumRegistryClient,
    DataAssetRegistryClient,
    Deployment,
    FoundingMember,
    KeyKind,
    TrustDirectoryClient,
    deploy_consortium,
)
from chain.contracts.grants import PrivateTerms
from chain.errors import ChainError
from chain.ids import OrgId, Role
from chain.tx import FREE_GAS, Signer, known_fees, pipelined
from network.description import FILENAME, ConsortiumDescription, MemberDescription, load_description
from network.errors import NetworkError
from network.identity import (
    NOTARY_SERVICE,
    OrgPublic,
    create_org_identity,
    issue_service_certificate,
    load_account_key,
)

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from network.config import Catalogue, ConsortiumConfig, DemoGrant
    from network.localchain import LocalChain

CHAIN_DIR = "chain"
#: Block time while init deploys and loads the demo: many small blocks instead of waiting a second each.
INIT_BLOCK_TIME = 0.02
DAY = 86_400
#: A demo grant in state "expired" ends this many seconds after its block's time.
EXPIRING_S = 5
#: The reason code the demo revokes its grants in state "revoked" with.
DEMO_REVOKE_REASON = 1


class ConsortiumError(NetworkError):
    """A consortium-level operation could not be carried out (the message says why and what to do)."""


Progress = Callable[[str], None]
#: A step of ``init --demo`` after the catalogue, while init's chain still runs: it gets the directory, the chain,
#: the contracts and every founder's signer (the demo's identifier set, ``demo.privacy``, is loaded by one).
DemoStep = Callable[[Path, Backend, Deployment, dict[OrgId, Signer], Progress], None]


def _quiet(_: str) -> None:
    pass


def init_consortium(
    directory: Path,
    config: ConsortiumConfig,
    passphrase: bytes,
    *,
    chain_url: str | None = None,
    load_demo: bool = False,
    progress: Progress = _quiet,
    crypto: str = "intl",
    demo_steps: Sequence[DemoStep] = (),
) -> ConsortiumDescription:
    """Create ``directory`` with identities and ``consortium.json``, deploying to a chain. ``crypto`` is the
    suite of the consortium's log (``intl`` or ``sm``): the type of every witness, gateway and log key. With
    ``load_demo``, the catalogue is loaded and then each of ``demo_steps`` runs, in order."""
    # imported here, not with the module: every other command opens a consortium without starting a chain
    from network.config import config_to_dict
    from network.localchain import DEFAULT_PORT, stop_together
    from network.trust import founder_keys, genesis_witness_endpoints

    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConsortiumError(
            f"{directory} already exists and is not empty: nothing was changed; "
            "choose a new directory, or remove this one to start over"
        )
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    nodes: list[LocalChain] = []
    try:
        identities = {}
        for m in config.members:
            identities[m.org] = create_org_identity(directory, m.org, m.name, passphrase, crypto=crypto)
            progress(f"identity {m.org}: CA, admin certificate, account {identities[m.org].account}")
        endpoints: dict[OrgId, str] = {}
        genesis: dict[str, object] | None = None
        if chain_url is None:
            nodes, endpoints = _start_chain(directory, config, identities, passphrase, progress)
            backend: Backend = nodes[0].backend
            genesis = _genesis_record(directory, config, backend)
        else:
            backend = RpcBackend(chain_url)
            if backend.chain_id != config.chain_id:
                raise ConsortiumError(
                    f"the chain at {chain_url} has chain id {backend.chain_id}, the consortium file says "
                    f"{config.chain_id}: fix one of them"
                )
        operator = Signer.from_key(load_account_key(directory, config.operator().org, passphrase))
        # each witness of the policy at its witness_url, or at the URL ``consortium up`` serves it on (docs/trust.md)
        witness_urls = dict(genesis_witness_endpoints(config.witness_policy.witnesses, DEFAULT_PORT))
        witness_urls |= {m.org: m.witness_url.encode() for m in config.members if m.witness_url is not None}
        founders = [
            FoundingMember(
                m.org,
                m.name,
                m.roles,
                identities[m.org].cert_fingerprint,
                (identities[m.org].account,),
                founder_keys(identities[m.org], m.roles)
                + (((KeyKind.NODE_ENDPOINT, endpoints[m.org].encode()),) if m.org in endpoints else ())
                + (((KeyKind.WITNESS_ENDPOINT, witness_urls[m.org]),) if m.org in witness_urls else ()),
            )
            for m in config.members
        ]
        start_block = int(backend.web3.eth.block_number)
        # init's own chain is the consortium's node, free gas: no request for each transaction's fee fields
        fees = FREE_GAS if chain_url is None else None
        with known_fees(fees):
            deployment = deploy_consortium(
                backend,
                operator,
                founders,
                config.admission_threshold,
                config.proposal_ttl_days * DAY,
                signed_anchors=crypto == "sm",  # AuditAnchor then refuses anchors it cannot check (docs/decisions.md)
            )
        progress(f"contracts deployed: {', '.join(f'{k} {v}' for k, v in deployment.addresses.items())}")
        policy = config_to_dict(config)["witness_policy"]
        description = ConsortiumDescription(
            name=config.name,
            chain_id=config.chain_id,
            chain_kind="local" if chain_url is None else "external",
            chain_url=f"http://127.0.0.1:{DEFAULT_PORT}" if chain_url is None else chain_url,
            contracts=deployment.addresses,
            deployed_at_block=start_block,
            admission_threshold=config.admission_threshold,
            proposal_ttl_days=config.proposal_ttl_days,
            witness_policy=policy,
            members=tuple(MemberDescription(m.org, m.name, m.roles, identities[m.org]) for m in config.members),
            crypto=crypto,
            genesis=genesis,
        )
        if load_demo and config.catalogue is not None:
            signers = {m.org: Signer.from_key(load_account_key(directory, m.org, passphrase)) for m in config.members}
            with known_fees(fees):
                load_catalogue(
                    backend,
                    deployment,
                    config.catalogue,
                    signers,
                    config.operator().org,
                    progress,
                    terms_to=(directory, tuple(m.org for m in config.regulators())),
                )
                for step in demo_steps:
                    step(directory, backend, deployment, signers, progress)
        description.write(directory)
        (directory / "consortium.toml").write_text(_config_toml(config), encoding="utf-8")
        # the notary's TLS certificate, by its member's CA, for `up --notary-tls` (localhost, 127.0.0.1)
        for org in [m.org for m in config.members if Role.NOTARY in m.roles][:1]:
            cert, _ = issue_service_certificate(directory, org, NOTARY_SERVICE, passphrase)
            progress(f"notary TLS certificate of {org}: {cert.relative_to(directory)}")
        return description
    except BaseException:
        stop_together([n.process for n in nodes])
        nodes = []
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            for child in directory.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    finally:
        stop_together([n.process for n in nodes])


def _genesis_record(directory: Path, config: ConsortiumConfig, backend: Backend) -> dict[str, object]:
    """The genesis the nodes were given, with the hash of the block it makes (read from the running chain), as
    ``consortium.json`` records it: a firm that joins later starts its node from it."""
    from chain.node.service import load_genesis
    from network.nodes import is_network, node_dir, node_entries

    entries = node_entries([(m.org, m.roles) for m in config.members])
    chain_dir = node_dir(directory, entries[0].org) if is_network(directory) else directory / CHAIN_DIR
    genesis, _ = load_genesis(chain_dir)
    block = backend.web3.eth.get_block(0)
    return {**json.loads(genesis.to_json()), "hash": "0x" + bytes(block["hash"]).hex()}


def _start_chain(
    directory: Path, config: ConsortiumConfig, identities: dict[OrgId, OrgPublic], passphrase: bytes, say: Progress
) -> tuple[list[LocalChain], dict[OrgId, str]]:
    """Write the genesis of every node and start the validators' (on free ports, with short blocks) for init to
    deploy through; the regulator's node catches up when ``consortium up`` first starts it. Also the node
    endpoints genesis writes on chain: where ``consortium up`` with its default port starts each node."""
    from chain.qbft.rules import quorum
    from network.localchain import free_port, start_node, start_nodes
    from network.nodes import create_nodes, default_endpoints, plan

    members = [(m.org, m.roles) for m in config.members]
    operator_account = identities[config.operator().org].account
    accounts = {org: identity.account for org, identity in identities.items()}
    ca_certs = [identities[m.org].ca_cert_pem for m in config.members]
    entries = create_nodes(directory, members, accounts, operator_account, config.chain_id, ca_certs, passphrase)
    validators = [e for e in entries if e.validator]
    if len(entries) == 1:
        local = start_node(directory, config.chain_id, passphrase, block_time=INIT_BLOCK_TIME)
        say(f"chain node started at {local.url} (genesis validator and operator {operator_account})")
        return [local], {}
    specs = plan(directory, validators, [(free_port(), free_port()) for _ in validators])
    chains = start_nodes(directory, specs, config.chain_id, passphrase, INIT_BLOCK_TIME)
    followers = [e.org for e in entries if not e.validator]
    say(
        f"{len(chains)} validator nodes started ({', '.join(e.org for e in validators)}; QBFT, quorum "
        f"{quorum(len(validators))} of {len(validators)})"
        + (f"; the node of {', '.join(followers)} follows from `consortium up` on" if followers else "")
    )
    return chains, default_endpoints(entries)


def _config_toml(config: ConsortiumConfig) -> str:
    from network.config import config_to_toml

    return "# The consortium file this consortium was initialised from.\n" + config_to_toml(config)


def digest_of(obj: object) -> bytes:
    """SHA-256 of canonical JSON: how the demo derives content and metadata digests of its assets."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()).digest()


def load_catalogue(
    backend: Backend,
    deployment: Deployment,
    catalogue: Catalogue,
    signers: dict[OrgId, Signer],
    operator: OrgId,
    progress: Progress = _quiet,
    terms_to: tuple[Path, Sequence[OrgId]] | None = None,
) -> None:
    """Register the service centers, units, data assets, APIs and grants of a catalogue on chain.

    With ``terms_to`` (the consortium directory and its regulators, as ``init --demo`` gives it) every grant is
    *private* (``grant create --private``, docs/confidentiality.md): only its asset, grantor, key and salted
    commitment go on chain, and its terms and salt to the terms stores of its grantor (whose gateway decides the
    calls under it), its grantee and the regulators, as ``grant terms export/import`` would hand them over
    (``network.grantterms``). Without, every grant is clear: its terms on chain for every member to read.

    A grant in state "revoked" is revoked by its grantor right after its creation. One in state "expired" was
    valid for its ``days`` and ends ``EXPIRING_S`` seconds after the block before it, by which time a consortium
    that runs it refuses calls under it as expired."""
    from network.grantterms import TermsRecord, TermsStore, new_record, with_grant_id

    assets = deployment.assets(backend)
    grants = deployment.grants(backend)
    stores: dict[str, TermsStore] = {}
    regulators = () if terms_to is None else tuple(terms_to[1])

    def store(org: str) -> TermsStore:
        assert terms_to is not None
        if org not in stores:
            stores[org] = TermsStore(terms_to[0], org)
        return stores[org]

    # Four rounds of transactions sent together (``chain.tx.pipelined``), each round only what the earlier
    # ones made possible: on a network of validators every block takes a round of votes.
    with pipelined():
        for asset in catalogue.assets:
            content = digest_of({"asset": asset.id, "title": asset.title, "version": 1})
            metadata = digest_of(
                {
                    "asset": asset.id,
                    "title": asset.title,
                    "description": asset.description,
                    "kind": asset.kind.name.lower(),
                    "classification": asset.classification,
                }
            )
            assets.register_asset(signers[asset.owner], asset.id, asset.kind, content, metadata, asset.classification)
        for center in catalogue.centers:
            assets.add_center(signers[operator], center.id, center.name)
    progress(f"data assets registered: {len(catalogue.assets)}")
    created: list[tuple[DemoGrant, TxReceipt, TermsRecord | None]] = []
    with pipelined():
        # first the grants: blocks made while this round is sent move the chain's clock on
        latest = int(backend.web3.eth.get_block("latest")["timestamp"])
        end = max(latest, int(time.time())) + EXPIRING_S
        # A grant starts at the earlier of the chain's time and the wall clock: blocks sealed in quick succession
        # run ahead of the wall clock, and gateways judge calls by the wall clock.
        now = min(latest, int(time.time()))
        for g in sorted(catalogue.grants, key=lambda g: g.state != "expired"):
            grantor = catalogue.asset(g.asset).owner
            start, stop = (end - g.days * DAY, end) if g.state == "expired" else (now, now + g.days * DAY)
            if terms_to is None:
                receipt = grants.submit_grant(signers[grantor], g.asset, g.grantee, g.purpose, start, stop, g.quota)
                created.append((g, receipt, None))
                continue
            # the triple's salt if it has one (the same key on chain: the later grant replaces the earlier)
            salt = store(grantor).salt_for(g.asset, g.grantee, g.purpose)
            terms = PrivateTerms.draw(g.asset, grantor, g.grantee, g.purpose, start, stop, g.quota)
            if salt is not None:
                terms = PrivateTerms(g.asset, grantor, g.grantee, g.purpose, start, stop, g.quota, salt)
            record = new_record(terms)
            store(grantor).put(record)  # before the transaction, as `grant create --private`: no salt lost
            receipt = grants.submit_private_grant(signers[grantor], g.asset, terms.key, terms.commitment)
            created.append((g, receipt, record))
        for center in catalogue.centers:
            for unit in center.units:
                assets.add_unit(signers[operator], unit.id, center.id, unit.name)
    with pipelined():
        for center in catalogue.centers:
            for unit in center.units:
                for api in unit.apis:
                    assets.register_api(signers[api.provider], api.id, unit.id, api.route, api.method, api.asset)
        for g, receipt, pending in created:
            if pending is None:
                grant_id = grants.grant_id_of(receipt)
            else:
                grant_id = grants.private_grant_id_of(receipt)
                done = with_grant_id(pending, grant_id)
                for org in dict.fromkeys([pending.terms.grantor, pending.terms.grantee, *regulators]):
                    store(org).put(done)
            if g.state == "revoked":
                owner = signers[catalogue.asset(g.asset).owner]
                grants.revoke(owner, grant_id, DEMO_REVOKE_REASON)
    progress(
        f"service catalogue registered: {len(catalogue.centers)} centers, {len(catalogue.units())} units, "
        f"{len(catalogue.apis())} APIs"
    )
    states = Counter(g.state for g in catalogue.grants if g.state != "active")
    detail = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    kind = "private access grants" if terms_to is not None else "access grants"
    progress(f"{kind} created: {len(catalogue.grants)}" + (f" ({detail})" if detail else ""))


@dataclass
class Consortium:
    """An opened consortium: its description, a chain connection and typed contract clients."""

    directory: Path
    description: ConsortiumDescription
    backend: Backend

    @classmethod
    def open(cls, directory: Path, chain_url: str | None = None, tls: ClientTls | None = None) -> Consortium:
        """The consortium in ``directory`` on the chain at ``chain_url`` (default: ``consortium.json``'s), reached
        with the client certificate ``tls`` when the node serves members only (an ``https`` URL)."""
        description = load_description(directory)
        url = chain_url or description.chain_url
        try:
            backend = RpcBackend(url, tls=tls)
        except ChainError as exc:
            local = description.chain_kind == "local" and "cannot reach" in str(exc)  # not a refusal
            hint = f" (start it with `consortium up {directory}`)" if local else ""
            raise ConsortiumError(f"{exc}{hint}") from exc
        if backend.chain_id != description.chain_id:
            raise ConsortiumError(
                f"the chain at {url} has chain id {backend.chain_id}, but {directory / FILENAME} "
                f"says {description.chain_id}: wrong --chain-url?"
            )
        return cls(directory, description, backend)

    @property
    def deployment(self) -> Deployment:
        return Deployment(self.description.contracts)

    @property
    def registry(self) -> ConsortiumRegistryClient:
        return self.deployment.registry(self.backend)

    @property
    def assets(self) -> DataAssetRegistryClient:
        return self.deployment.assets(self.backend)

    @property
    def grants(self) -> AccessGrantsClient:
        return self.deployment.grants(self.backend)

    @property
    def anchors(self) -> AuditAnchorClient:
        return self.deployment.anchors(self.backend)

    @property
    def trust(self) -> TrustDirectoryClient:
        """The TrustDirectory (``docs/trust.md``); ConsortiumError for a consortium created before it existed."""
        client = self.deployment.trust(self.backend)
        if client is None:
            raise ConsortiumError(
                f"{self.directory / FILENAME} names no TrustDirectory: this consortium was created before keys "
                "were kept on chain, and its keys are those of consortium.json"
            )
        return client

    def signer(self, org: str, passphrase: bytes) -> Signer:
        """The signing account of ``org``, whose encrypted key must be in this directory."""
        if not (self.directory / "orgs" / org).is_dir():
            raise ConsortiumError(
                f"no keys for {org!r} in {self.directory / 'orgs'}: only a firm's own keys can sign for it"
            )
        return Signer.from_key(load_account_key(self.directory, OrgId(org), passphrase))

    def now(self) -> int:
        """The chain's latest block time: the clock grants are checked against."""
        return self.backend.block_time()
