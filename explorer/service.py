"""Running the explorer: ``python -m explorer DIR --port 8000`` (what ``consortium up`` starts).

It opens its two indexes under ``DIR/explorer/`` (the call index in PostgreSQL instead with ``--index``, shared
by explorer replicas, one of which follows the log into it), starts the followers of the log and the chain, the
chain state reader, the client of ``up``'s alarm endpoint when given its URL, and, when it has the operator's
gateway key (the consortium passphrase), the audit recorder of queries, which signs its reads of the notary with
that key too (``<operator>/explorer``, the notary's trusted reader); then serves the app with uvicorn. The
explorer holds no secret beyond that key and the alarm endpoint's token: every page it serves comes from the
log, the chain, the consortium's public description and the alarms of ``up``.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from chain.backend import ClientTls, RpcBackend
from chain.errors import BackendError, MalformedError
from chain.ids import OrgId, Role
from chain.node.peerfollow import Source, plan_peers
from chain.qbft.evidence import KEEP, KEEP_BYTES
from explorer.alarmsource import STALE_AFTER_S, AlarmSource, EndpointAlarms, FileAlarms
from explorer.api import Explorer, Limits
from explorer.audit import AuditRecorder
from explorer.calls import CallIndex, CallStore
from explorer.chainfollow import ChainFollower
from explorer.chainindex import ChainIndex
from explorer.equivocations import OWN, TIMEOUT_S, EquivocationBook, NodeSource
from explorer.logfollow import LogFollower
from explorer.state import ChainState
from network.description import load_description
from network.gatewaykeys import following_gateway_key
from network.identity import load_gateway_key
from network.keyrotation import ChainKeyFile
from network.logins import Authenticator
from network.logsetup import log_origin, log_vkey, notary_client_tls, regulator_orgs, roots_from_description
from network.nodes import NodesError, is_network, read_nodes
from network.trust import has_directory, trust_view
from network.witnesskeys import ChainWitnessKeys
from notary.readauth import SignedReads

if TYPE_CHECKING:
    from chain.trustview import TrustSnapshot, TrustView

log = logging.getLogger("explorer.service")

#: The peer route of a node that serves its equivocation evidence (``chain.node.peers.EQUIVOCATIONS_PATH``), and
#: the most bytes of it read (``chain.node.peers.MAX_EVIDENCE_BYTES``).
PEER_EVIDENCE_PATH = "/qbft/v1/equivocations"
MAX_PEER_EVIDENCE_BYTES = 2 * KEEP_BYTES + KEEP * 4096

#: How a node's peer route is asked for its evidence: its peer URL, the client context (made when asked) and the
#: timeout in, the JSON list out (:func:`ask_peer_evidence`).
PeerAsk = Callable[[str, Callable[[], ssl.SSLContext], float], object]

INDEX_DIR = "explorer"


@dataclass(frozen=True, slots=True)
class ExplorerOptions:
    directory: Path
    notary_url: str
    chain_url: str | None = None
    #: Unlocks the operator's gateway key, which signs the explorer's reads of the notary and its audit batches.
    #: None: neither (a notary that authenticates reads refuses the explorer, and queries are not recorded).
    passphrase: bytes | None = None
    #: Record every query in the audit log (needs ``passphrase``); False reads only, e.g. a second explorer
    #: beside the one ``consortium up`` runs, which records under the same gateway name.
    audit: bool = True
    poll: float = 0.5
    limits: Limits = field(default_factory=Limits)
    #: The call index in PostgreSQL (postgresql://...), shared by explorer replicas; None: SQLite under DIR.
    index_url: str | None = None
    #: A member's client certificate for a chain node serving members only (https); None: plain http.
    chain_tls: ClientTls | None = None
    #: The alarm endpoint of ``consortium up`` and its token (``DIR/alarms/api.token``); None: the live alarms
    #: are read from ``DIR/alarms/alarms.json`` (docs/alarms.md).
    alarms_url: str | None = None
    alarms_token: str | None = None
    #: The client context for an https ``alarms_url`` (``up --alarms-host``): the endpoint's CAs and the client
    #: certificate presented.
    alarms_tls: ssl.SSLContext | None = None
    #: Seconds after which the last evaluation shows as stale (``--alarms-stale-after``).
    alarms_stale_after: float = STALE_AFTER_S


_Index = TypeVar("_Index", CallIndex, ChainIndex)


def _open_index(kind: Callable[[Path], _Index], path: Path) -> _Index:
    """Open an index; one of another schema version (an older explorer's) is rebuilt from nothing: it is only
    an index of the log and the chain, which the followers read again."""
    try:
        return kind(path)
    except ValueError as exc:
        if "schema" not in str(exc):
            raise
        log.warning("%s; rebuilding it", exc)
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return kind(path)


def build(options: ExplorerOptions) -> Explorer:
    """Open the indexes and start every background part; :func:`stop` undoes it."""
    description = load_description(options.directory)
    chain_url = options.chain_url or description.chain_url
    index_dir = options.directory / INDEX_DIR
    index_dir.mkdir(parents=True, exist_ok=True)
    calls: CallStore
    if options.index_url is not None:
        from explorer.calls_pg import PostgresCallIndex

        calls = PostgresCallIndex(options.index_url, tree=description.suite.tree)
    else:
        calls = _open_index(partial(CallIndex, tree=description.suite.tree), index_dir / "calls.db")
    chain = _open_index(ChainIndex, index_dir / "chain.db")
    state = ChainState(chain_url, dict(description.contracts), tls=options.chain_tls)
    founding = {m.org for m in description.members}

    def is_member(org: str) -> bool:
        snapshot = state.snapshot
        if snapshot.block < 0:  # no snapshot yet: the founding members
            return org in founding
        member = snapshot.member(org)
        return member is not None and member.status.name.lower() == "active"

    trust = None
    if has_directory(description) and chain_url:  # login CAs and revoked serials as the chain says now (docs/trust.md)
        trust = trust_view(description, chain_url, poll_s=options.poll, tls=options.chain_tls)
        trust.start(require=False)  # consortium.json's founders' CAs until the chain answers
    # who is a regulator: one answer for the people checks and the query visibility rule, the chain's with a view
    regulators = regulator_orgs(description, trust)
    auth = Authenticator(options.directory, regulator_orgs=regulators, is_member=is_member, trust=trust)
    witness_keys = None
    if trust is not None:  # the witnesses counted for a checkpoint: the chain's at its anchor's block
        backend = RpcBackend(chain_url, 10.0, chain_id=description.chain_id, tls=options.chain_tls)
        witness_keys = ChainWitnessKeys(description, backend, view=trust)
    roots = roots_from_description(description)
    recorder = None
    notary_auth = None
    notary_tls = None
    passphrase = options.passphrase
    if passphrase is not None:
        operator = next(m.org for m in description.members if Role.OPERATOR in m.roles)
        if options.notary_url.startswith("https://"):  # a notary served over mutual TLS: the operator's log@
            notary_tls = notary_client_tls(options.directory, description, operator, passphrase)
        key = load_gateway_key(options.directory, OrgId(operator), passphrase, description.crypto)

        def follow_key() -> ChainKeyFile | None:
            """The operator's key file followed on chain (`gateway rotate-key`), no restart; one per user."""
            if trust is None:
                return None
            return following_gateway_key(trust, options.directory, operator, passphrase, description.crypto)

        if options.audit:  # an SM2 key (sm) signs the batches under sm
            recorder = AuditRecorder(
                index_dir / "audit.outbox.db",
                operator,
                options.notary_url,
                key,
                passphrase,
                suite=description.crypto,
                notary_tls=notary_tls,
                next_key=follow_key(),
            )
        # the same key signs its reads: the notary knows <operator>/explorer as its trusted reader; started between a
        # rotation and its new key's block, from the key kept, valid then
        follow = follow_key()
        notary_auth = SignedReads(f"{operator}/explorer", key if follow is None else follow.start(), next_key=follow)
    explorer = Explorer(
        directory=options.directory,
        description=description,
        calls=calls,
        chain=chain,
        state=state,
        auth=auth,
        notary_url=options.notary_url,
        roots=roots,
        recorder=recorder,
        limits=options.limits,
        notary_auth=notary_auth,
        notary_tls=notary_tls,
        trust=trust,
        witness_keys=witness_keys,
        regulators=regulators,
        equivocations=EquivocationBook(
            sources=partial(
                equivocation_sources,
                options.directory,
                chain_url,
                description.chain_id,
                options.chain_tls,
                listed=None if trust is None else partial(_directory_now, trust),
            )
        ),
        alarms=_alarm_source(options),
    )
    origin = log_origin(description)
    explorer.followers["log"] = LogFollower(
        calls,
        options.notary_url,
        log_vkey=log_vkey(description),
        origin=origin,
        poll=options.poll,
        auth=notary_auth,
        tls=notary_tls,
        log_keys=explorer.log_keys,
    )
    retired = {r.address: "AuditAnchor" for r in description.retired_anchors}  # their anchors stay readable
    explorer.followers["chain"] = ChainFollower(
        chain, chain_url, dict(description.contracts), poll=options.poll, tls=options.chain_tls, retired=retired
    )
    state.start()
    for follower in explorer.followers.values():
        follower.start()
    if recorder is not None:
        recorder.start()
    return explorer


def equivocation_sources(
    directory: Path,
    chain_url: str,
    chain_id: int,
    tls: ClientTls | None,
    timeout: float = TIMEOUT_S,
    *,
    listed: Source | None = None,
    ask: PeerAsk | None = None,
) -> list[NodeSource]:
    """The nodes whose equivocation evidence the explorer gathers: its own chain node first, then every other node
    ``nodes/nodes.json`` lists (read at each ask: ``up`` writes it as it starts them), each asked with
    ``timeout`` and, over https, presenting the explorer's chain client certificate; ``nodes.json`` unreadable is
    one more source, which fails saying so. Then, with ``listed`` (the directory the explorer follows, as it
    stands now), the node endpoints members publish on chain valid now, of each org not among those yet (a firm
    admitted later, which runs its node from its own directory): they are peer URLs, which serve no JSON-RPC, so
    each is asked ``GET /qbft/v1/equivocations`` (:func:`chain_sources`, with ``ask``)."""
    entries: list[tuple[str, str]] = []
    listing: NodesError | None = None
    if is_network(directory):
        try:
            entries = [(str(e.org), e.rpc_url) for e in read_nodes(directory) if e.rpc_url]
        except NodesError as exc:
            listing = exc
    own = next((org for org, url in entries if url == chain_url), OWN)
    sources = [NodeSource(own, partial(_ask_equivocations, chain_url, chain_id, tls, timeout), own=True)]
    seen = {chain_url}
    for org, url in entries:
        if url not in seen:
            seen.add(url)
            node_tls = tls if url.startswith("https://") else None
            sources.append(NodeSource(org, partial(_ask_equivocations, url, chain_id, node_tls, timeout)))
    if listing is not None:
        sources.append(NodeSource("nodes.json", partial(_raise, listing)))
    now = None if listed is None else listed()
    if now is not None:
        sources += chain_sources(*now, {s.name for s in sources}, tls, timeout, ask=ask or ask_peer_evidence)
    return sources


def _directory_now(trust: TrustView) -> tuple[TrustSnapshot, int] | None:
    snapshot = trust.snapshot
    return None if snapshot is None else (snapshot, trust.head)


def chain_sources(
    snapshot: TrustSnapshot,
    block: int,
    known: set[str],
    tls: ClientTls | None,
    timeout: float = TIMEOUT_S,
    *,
    ask: PeerAsk | None = None,
) -> list[NodeSource]:
    """The node endpoints the directory lists valid now (``chain.node.peerfollow.plan_peers``: none of a removed
    member) of each org not in ``known``, each a source named by its org (by its org and URL after the first of
    an org) that asks the peer route ``GET /qbft/v1/equivocations``. Over https the explorer presents its chain
    client certificate (``tls``), which a node admits at that route when a current member's CA issued it
    (``chain.node.peerauth``), and trusts the member CAs of ``tls`` and those valid on chain at ``block`` (a firm
    admitted later has its CA there only); without a certificate such a source fails saying so. ``ask``: how
    each is asked (:func:`ask_peer_evidence`)."""
    plan = plan_peers(snapshot, block, "")
    ask = ask or ask_peer_evidence
    context: Callable[[], ssl.SSLContext] = partial(_peer_context, tls, [d for ders in plan.cas.values() for d in ders])
    sources: list[NodeSource] = []
    for org, urls in plan.endpoints.items():
        if org in known:
            continue
        for n, url in enumerate(urls):
            name = org if n == 0 else f"{org} {url}"
            sources.append(NodeSource(name, partial(ask, url, context, timeout)))
    return sources


def _peer_context(tls: ClientTls | None, cas: list[bytes]) -> ssl.SSLContext:
    """The client context of the evidence route: ``tls``'s certificate and CAs, and the CAs ``cas`` (DER) too."""
    if tls is None or tls.cert is None:
        raise BackendError(
            "no client certificate to present at its peer route: the explorer asks it with its chain client "
            "certificate, which it has for an https chain URL (consortium up --rpc-tls; the explorer's --chain-url "
            "https://... --chain-cert)"
        )
    context = tls.context()
    for der in cas:
        try:
            context.load_verify_locations(cadata=der)
        except ssl.SSLError as exc:  # one the chain holds that OpenSSL cannot take: the others still count
            log.info("a member CA on chain is not trusted for the evidence route: %s", exc)
    return context


def ask_peer_evidence(url: str, context: Callable[[], ssl.SSLContext], timeout: float) -> object:
    """What the node whose peer URL is ``url`` answers at ``GET /qbft/v1/equivocations``: the JSON list
    ``qbft_getEquivocations`` answers. :class:`BackendError` for no answer or a refusal (with the node's reason),
    :class:`MalformedError` for an answer that is not JSON or over :data:`MAX_PEER_EVIDENCE_BYTES`."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(host, parts.port or 443, timeout=timeout, context=context())
    else:
        connection = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", parts.path.rstrip("/") + PEER_EVIDENCE_PATH)
        answer = connection.getresponse()
        body = answer.read(MAX_PEER_EVIDENCE_BYTES + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise BackendError(f"{url}{PEER_EVIDENCE_PATH}: {exc.__class__.__name__}: {exc}") from None
    finally:
        connection.close()
    if answer.status != 200:
        raise BackendError(f"{url}{PEER_EVIDENCE_PATH} answered {answer.status}: {_reason(body)}")
    if len(body) > MAX_PEER_EVIDENCE_BYTES:
        raise MalformedError(f"{url}{PEER_EVIDENCE_PATH} answered over {MAX_PEER_EVIDENCE_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise MalformedError(f"{url}{PEER_EVIDENCE_PATH} answered no JSON: {exc}") from None


def _reason(body: bytes) -> str:
    """The ``error`` of a peer route's refusal, else the start of what it answered."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        error = None
    return error if isinstance(error, str) else body[:200].decode("utf-8", "replace")


def _ask_equivocations(url: str, chain_id: int, tls: ClientTls | None, timeout: float) -> object:
    """What the node at ``url`` answers to ``qbft_getEquivocations`` (a connection of its own each time: one
    left hanging by an earlier ask is not shared)."""
    backend = RpcBackend(url, timeout, lean=True, chain_id=chain_id, tls=tls)
    try:
        return backend.request("qbft_getEquivocations", [])
    finally:
        backend.close()


def _raise(exc: Exception) -> object:
    raise exc


def stop(explorer: Explorer) -> None:
    for follower in explorer.followers.values():
        follower.stop()
    explorer.state.stop()
    if explorer.trust is not None:
        explorer.trust.stop()
    if explorer.recorder is not None:
        explorer.recorder.close()
    explorer.close()
    explorer.calls.close()
    explorer.chain.close()


def serve(options: ExplorerOptions, host: str, port: int) -> None:
    import uvicorn

    from explorer.api import create_app

    explorer = build(options)
    try:
        uvicorn.run(create_app(explorer), host=host, port=port, log_level="warning", access_log=False)
    finally:
        stop(explorer)


def _alarm_source(options: ExplorerOptions) -> AlarmSource:
    """Where the live alarms are read: up's endpoint (``--alarms-url``), else ``DIR/alarms/alarms.json``."""
    if options.alarms_url is None:
        return FileAlarms(options.directory, stale_after=options.alarms_stale_after)
    return EndpointAlarms(
        options.alarms_url, options.alarms_token or "", stale_after=options.alarms_stale_after, tls=options.alarms_tls
    )
