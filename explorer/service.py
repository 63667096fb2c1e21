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

import gc
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from chain.backend import ClientTls, RpcBackend
from chain.ids import OrgId, Role
from explorer.alarmsource import STALE_AFTER_S, AlarmSource, EndpointAlarms, FileAlarms
from explorer.api import Explorer, Limits
from explorer.audit import AuditRecorder
from explorer.calls import CallIndex, CallStore
from explorer.chainfollow import ChainFollower
from explorer.chainindex import ChainIndex
from explorer.equivocations import TIMEOUT_S, EquivocationBook
from explorer.logfollow import LogFollower
from explorer.state import ChainState
from network.description import load_description
from network.equivocationsources import equivocation_sources
from network.gatewaykeys import following_gateway_key
from network.grantterms import trusted_heads
from network.identity import load_gateway_key
from network.keyrotation import ChainKeyFile
from network.logins import Authenticator
from network.logsetup import log_origin, log_vkey, notary_client_tls, regulator_orgs, roots_from_description
from network.trust import has_directory, trust_view
from network.witnesskeys import ChainWitnessKeys
from notary.readauth import SignedReads

if TYPE_CHECKING:
    from chain.trustview import TrustSnapshot, TrustView

log = logging.getLogger("explorer.service")

INDEX_DIR = "explorer"
#: The last header the explorer's light client accepted (``network.keptheader``), in :data:`INDEX_DIR`, and how
#: many headers after the one kept it writes it again.
KEPT_HEADER = "verified-header.json"
KEEP_EVERY = 100


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
        # an anchor's block proven from the founding validators, from the header kept in the explorer's directory
        heads = trusted_heads(backend, description, index_dir / KEPT_HEADER, keep_every=KEEP_EVERY)
        witness_keys = ChainWitnessKeys(description, backend, view=trust, heads=heads)
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
                TIMEOUT_S,
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
    threading.Thread(
        target=explorer.keep_warm, args=(explorer.stopping, options.poll), name="explorer-warm", daemon=True
    ).start()
    return explorer


def _directory_now(trust: TrustView) -> tuple[TrustSnapshot, int] | None:
    snapshot = trust.snapshot
    return None if snapshot is None else (snapshot, trust.head)


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


def settle() -> None:
    """Before the explorer serves: collect what starting left unreachable, then move every object made so far (the
    modules, the app and its models, the indexes' state: about 145,000 objects) out of the cyclic collector's reach
    (``gc.freeze``). A full collection, which runs in whichever thread allocates when it falls due, then scans only
    what serving made since: with those objects scanned too it held one answer in a run of sixty 100 to 130 ms
    (docs/explorer.md, "Provenance")."""
    gc.collect()
    gc.freeze()


def serve(options: ExplorerOptions, host: str, port: int) -> None:
    import uvicorn

    from explorer.api import create_app

    explorer = build(options)
    try:
        app = create_app(explorer)
        settle()
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        stop(explorer)


def _alarm_source(options: ExplorerOptions) -> AlarmSource:
    """Where the live alarms are read: up's endpoint (``--alarms-url``), else ``DIR/alarms/alarms.json``."""
    if options.alarms_url is None:
        return FileAlarms(options.directory, stale_after=options.alarms_stale_after)
    return EndpointAlarms(
        options.alarms_url, options.alarms_token or "", stale_after=options.alarms_stale_after, tls=options.alarms_tls
    )
