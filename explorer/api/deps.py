"""What the routes depend on: the :class:`Explorer` they read from, the person asking, and the parameters
several routes share, each as an ``Annotated`` alias a route names in its signature.

Parameters are validated here by FastAPI (patterns, ranges): a malformed one is a 422 naming the parameter.
The call filters (:data:`Filters`) carry the tenant restriction of the person asking, so every search and
export applies it whatever else was asked.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, Query, Request
from fastapi import Path as PathParam

from chain.trustview import TrustView
from explorer import access
from explorer.alarmsource import AlarmSource, FileAlarms
from explorer.api.middleware import Limits
from explorer.audit import AuditRecorder, name_subject
from explorer.calls import CallFilter, CallStore
from explorer.chainindex import ChainIndex
from explorer.equivocations import EquivocationBook
from explorer.errors import ChainUnavailableError, InvalidParameterError
from explorer.keys import ConsortiumKeysJSON, consortium_keys
from explorer.notary_client import NotaryClient
from explorer.state import ChainState
from network.certificates import BoundedCache
from network.description import ConsortiumDescription
from network.logins import Authenticator, Person
from network.logsetup import chain_log_keys, query_regulators, regulator_orgs
from network.shredding import ShredBook
from network.witnesskeys import (
    ChainWitnessKeys,
    CheckpointWitnesses,
    claimed_checkpoint_size,
    offline_witnesses,
    with_witnesses,
)
from notary.bundle import EvidenceBundle
from notary.event import QueryVisibility
from notary.logkeys import LogKeys
from notary.verify import Step, TrustRoots, verify_evidence

MAX_PAGE = 200
MAX_ZIP = 1000
MAX_MS = 2**53 - 1
NAME = r"^[a-z0-9][a-z0-9._-]{0,31}$"
EVENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
GRANT = r"^0x[0-9a-f]{64}$"
TX_HASH = r"^0x[0-9a-fA-F]{64}$"
REASON = r"^[a-z][a-z0-9_]{0,39}$"
TRACE = r"^[0-9a-f]{32}$"

log = logging.getLogger("explorer.api")


@dataclass
class Explorer:
    """What the app reads from: the indexes, the chain state, the notary, and who is asking."""

    directory: Path
    description: ConsortiumDescription
    calls: CallStore
    chain: ChainIndex
    state: ChainState
    auth: Authenticator
    notary_url: str
    roots: TrustRoots
    recorder: AuditRecorder | None = None
    limits: Limits = field(default_factory=Limits)
    followers: dict[str, Any] = field(default_factory=dict)
    evidence_cache_size: int = 4096
    notary_auth: httpx.Auth | None = None  # how the explorer signs its reads of the notary (notary.readauth)
    notary_tls: ssl.SSLContext | None = None  # its TLS client context for an https notary (up --notary-tls)
    trust: TrustView | None = None  # the TrustDirectory followed for the login CAs (docs/trust.md)
    equivocations: EquivocationBook | None = None  # the chain node's equivocation evidence, checked here
    #: The live alarms: up's alarm endpoint (``--alarms-url``); None: ``DIR/alarms/alarms.json`` (docs/alarms.md).
    alarms: AlarmSource | None = None
    #: the witness keys valid on chain for a checkpoint (network.witnesskeys); None: consortium.json's, said so
    witness_keys: ChainWitnessKeys | None = None
    #: who is a regulator, for the query visibility rule (and the people checks ``build`` gives the same object);
    #: None: ``network.logsetup.regulator_orgs`` of the description and :attr:`trust` (the chain's, with a view)
    regulators: Collection[str] | None = None

    def __post_init__(self) -> None:
        #: verify_evidence's steps by (bundle, witnesses) object identity: see :meth:`verified`
        self._verdicts: BoundedCache[tuple[int, int], tuple[EvidenceBundle, CheckpointWitnesses, tuple[Step, ...]]]
        self._verdicts = BoundedCache(self.evidence_cache_size)
        self.notary = NotaryClient(
            self.notary_url, cache_size=self.evidence_cache_size, auth=self.notary_auth, tls=self.notary_tls
        )
        # the providers' signed shred statements (orgs/<org>/shreds/), to show a shredded day's calls as such
        self.shreds = ShredBook(self.directory, self.description, trust=self.trust)
        if self.alarms is None:
            self.alarms = FileAlarms(self.directory)
        if self.regulators is None:
            self.regulators = regulator_orgs(self.description, self.trust)
        #: set by :meth:`close`: :meth:`keep_warm` returns
        self.stopping = threading.Event()

    def close(self) -> None:
        self.stopping.set()
        self.notary.close()
        if self.alarms is not None:
            self.alarms.close()

    @property
    def visibility(self) -> QueryVisibility:
        """Who sees the explorer's query events beyond the querying firm: ``consortium.json``'s ``audit`` policy
        over the regulators' queries (``network.logsetup.query_regulators`` of :attr:`regulators`: with a trust
        view, every org holding the role on chain, one removed since too, worked out once per snapshot of it, so
        asking this costs no chain read per row). Ask it once per request."""
        return self.description.query_visibility(query_regulators(() if self.regulators is None else self.regulators))

    def warm(self) -> None:
        """Do before the first provenance answer what it would otherwise do first
        (``network.witnesskeys.ChainWitnessKeys.prepare``): read the witness and log keys valid at the latest
        anchor's block, walk the light client to the head, from the header kept or the genesis, and prove that
        block back from there. :meth:`keep_warm` runs this as the explorer starts and at each newer anchor. A
        chain that does not answer is logged and left to the first answer, which meets it again."""
        if self.witness_keys is None:
            return
        try:
            block = self.witness_keys.prepare()
        except Exception as exc:  # web3, requests and our ChainError alike: the first answer meets it again
            log.info("the explorer could not prepare its provenance answers: %s: %s", exc.__class__.__name__, exc)
            return
        log.debug("provenance prepared: the latest anchor's block is %s", block)

    def warm_newer(self, seen: tuple[int, int] | None) -> tuple[int, int] | None:
        """:meth:`warm` when the chain index holds an ``Anchored`` event other than ``seen`` (its block and log
        index; None: none seen yet, so the first call always warms): the newest such event, as ``seen`` for the
        next call. Asks the node nothing when there is no newer anchor (the index is the explorer's own)."""
        newest = self.chain.events(contract="AuditAnchor", event="Anchored", before=None, limit=1)
        now = (newest[0]["block_number"], newest[0]["log_index"]) if newest else (0, -1)
        if now != seen:
            self.warm()
        return now

    def keep_warm(self, stopping: threading.Event, every: float) -> None:
        """:meth:`warm` now, then again each time the chain index records a newer anchor (:meth:`warm_newer`,
        looked for every ``every`` seconds) until ``stopping`` is set: the first answer about a call anchored
        after the explorer started finds that anchor's keys read and its block proven too.
        :func:`explorer.service.build` runs this in a thread of its own; without a chain's keys it returns at
        once (there is nothing to prepare)."""
        if self.witness_keys is None:
            return
        seen: tuple[int, int] | None = None
        while True:
            try:
                seen = self.warm_newer(seen)
            except Exception as exc:  # the index being closed as the explorer stops, or a locked database
                log.info("the explorer could not look for a newer anchor: %s: %s", exc.__class__.__name__, exc)
            if stopping.wait(every):
                return

    def witnesses_for(self, size: int | None) -> CheckpointWitnesses:
        """The witness keys and policy the checkpoint of ``size`` is counted under, and the log keys it is checked
        under: valid on chain at the block that anchored it (at the head for one not anchored, or ``size`` None);
        consortium.json's when the explorer reads no TrustDirectory. :class:`ChainUnavailableError` (503) when the
        chain does not answer: the file's keys are never put in their place silently."""
        if self.witness_keys is None:
            return offline_witnesses(self.description)
        try:
            return self.witness_keys.for_checkpoint(size)
        except Exception as exc:  # web3, requests and our ChainError alike
            raise ChainUnavailableError(
                f"the witness and log keys cannot be read from the chain: {exc.__class__.__name__}: {exc}"
            ) from exc

    def roots_for(self, bundle: EvidenceBundle, chosen: CheckpointWitnesses | None = None) -> TrustRoots:
        """The trust roots ``bundle`` is verified against: :attr:`roots` with the witnesses and log keys of its
        checkpoint (``chosen``: those already looked up for it, ``witnesses_for(claimed_checkpoint_size(bundle))``)."""
        if chosen is None:
            chosen = self.witnesses_for(claimed_checkpoint_size(bundle))
        roots = with_witnesses(self.roots, self.description, chosen)
        if self.witness_keys is None:
            return roots
        try:  # the anchor's block and the set that sealed it, proven from the founding validators
            return self.witness_keys.with_anchor_block(roots, bundle)
        except Exception as exc:  # a node that cannot be reached, as above
            raise ChainUnavailableError(
                f"the anchor's block cannot be proven from the chain: {exc.__class__.__name__}: {exc}"
            ) from exc

    def verified(self, bundle: EvidenceBundle, chosen: CheckpointWitnesses) -> tuple[Step, ...]:
        """``verify_evidence(bundle, roots_for(bundle, chosen))``, kept for the same bundle object under the same
        witnesses object: a bundle the notary client keeps, under the answer :class:`ChainWitnessKeys` keeps for
        its checkpoint's block (a new object whenever the directory's records or the block changed), has the
        same steps each time, as the check reads nothing but the two. A warm provenance answer then verifies no
        signature again; a cold one, or one after a key was declared compromised, verifies the bundle anew. Without
        a chain (consortium.json's keys, a new object each answer) nothing is kept: nothing would be found again."""
        if self.witness_keys is None:
            return tuple(verify_evidence(bundle, self.roots_for(bundle, chosen)))
        key = (id(bundle), id(chosen))
        kept = self._verdicts.get(key)
        if kept is not None and kept[0] is bundle and kept[1] is chosen:
            return kept[2]
        roots = self.roots_for(bundle, chosen)
        steps = tuple(verify_evidence(bundle, roots))
        if roots.anchor_block is None or roots.anchor_block.problem is None:  # a block not proven: asked again
            self._verdicts.put(key, (bundle, chosen, steps))  # the objects held: their ids are not reused meanwhile
        return steps

    def keys(self, size: int | None = None, chosen: CheckpointWitnesses | None = None) -> ConsortiumKeysJSON:
        """The consortium's public keys for verifying the log's checkpoint of ``size`` (the witnesses valid now
        without it; ``chosen``: those already looked up, ``witnesses_for(size)``):
        :func:`explorer.keys.consortium_keys`."""
        return consortium_keys(self.description, self.witnesses_for(size) if chosen is None else chosen)

    def log_keys(self) -> LogKeys | None:
        """The log's keys on chain as the followed view read them last, judged at its head (the log follower checks
        each listed checkpoint at its anchor's block); None until then, without a chain, or when the directory
        holds no log key (``consortium.json``'s key)."""
        snapshot = None if self.trust is None else self.trust.snapshot
        if self.trust is None or snapshot is None:
            return None
        keys = chain_log_keys(snapshot, self.description, self.trust.head)
        return keys if keys.keys else None


# -- the explorer and the person asking --------------------------------------------------------------------


async def _explorer(request: Request) -> Explorer:
    explorer: Explorer = request.app.state.explorer
    return explorer


async def _person(request: Request) -> Person:
    person: Person = request.state.person  # set by the gatekeeper before any route runs
    return person


async def _subject(request: Request) -> Callable[[Iterable[str]], None]:
    return partial(name_subject, request.scope)


ExplorerDep = Annotated[Explorer, Depends(_explorer)]
CurrentPerson = Annotated[Person, Depends(_person)]
#: Names the firms whose data the answer holds in the query's audit event (``explorer.audit.name_subject``).
Subject = Annotated[Callable[[Iterable[str]], None], Depends(_subject)]

# -- parameters ----------------------------------------------------------------------------------------------

Name = Annotated[str, PathParam(pattern=NAME)]
EventId = Annotated[str, PathParam(pattern=EVENT_ID)]
GrantId = Annotated[str, PathParam(pattern=GRANT)]
TxHash = Annotated[str, PathParam(pattern=TX_HASH)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
Before = Annotated[int | None, Query(ge=0, le=MAX_MS)]

# The query parameters shared by the call search and the exports.
Caller = Annotated[str | None, Query(pattern=NAME, description="caller org")]
Provider = Annotated[str | None, Query(pattern=NAME, description="provider org")]
Service = Annotated[str | None, Query(pattern=NAME, description="API id")]
Center = Annotated[str | None, Query(pattern=NAME)]
Asset = Annotated[str | None, Query(pattern=NAME)]
GrantQ = Annotated[str | None, Query(pattern=GRANT)]
Decision = Annotated[str | None, Query(pattern="^(allow|deny)$")]
Status = Annotated[int | None, Query(ge=100, le=599)]
Reason = Annotated[str | None, Query(pattern=REASON)]
From = Annotated[int | None, Query(alias="from", ge=0, le=MAX_MS, description="ms since the epoch")]
To = Annotated[int | None, Query(alias="to", ge=0, le=MAX_MS, description="ms since the epoch (exclusive)")]
Trace = Annotated[str | None, Query(pattern=TRACE, description="W3C trace id")]


async def _call_filter(
    person: CurrentPerson, caller: Caller = None, provider: Provider = None, service: Service = None,
    center: Center = None, asset: Asset = None, grant: GrantQ = None, decision: Decision = None,
    status: Status = None, denial_reason: Reason = None, from_ms: From = None, to_ms: To = None,
    trace: Trace = None,
) -> CallFilter:  # fmt: skip
    """The filters shared by the call search and the exports, restricted to the person's firm."""
    if from_ms is not None and to_ms is not None and to_ms <= from_ms:
        raise InvalidParameterError("to must be later than from")
    return CallFilter(
        caller=caller, provider=provider, api=service, center=center, asset=asset, grant=grant,
        decision=decision, status=status, denial_reason=denial_reason, from_ms=from_ms, to_ms=to_ms,
        trace_id=trace, party=access.party(person),
    )  # fmt: skip


Filters = Annotated[CallFilter, Depends(_call_filter)]
