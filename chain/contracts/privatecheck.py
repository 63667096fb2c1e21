"""``AccessGrants.check_private``'s verdict computed where the terms are, from reads that carry none of them.

``check_private`` is an ``eth_call`` whose parameters are a private grant's grantee, purpose, window, quota and
salt: the node that answers it reads them all (docs/confidentiality.md, note 4). The verdict needs of the chain
only what the terms locate, so :func:`verdict` computes it here, step by step as the contract does, from the
contracts' storage words read by slot (slots from the compiled layout, ``chain.contracts.layout``), every word of
one check at one block:

1. the asset's owner, retirement and transfers (``DataAssetRegistry.assets[asset]``), then the grantee's and the
   owner's status and roles (``ConsortiumRegistry.members[org]``): ``_standing``;
2. a grantee that owns the asset: ``NO_GRANT``;
3. the grant current under the key (``AccessGrants.private_current[asset][key]``), the key
   ``keccak256(abi_encode(salt, asset, grantee, purpose))`` computed here: ``NO_GRANT`` when there is none;
4. that grant's commitment (``private_grants[id].commitment``) against the terms' commitment, computed here:
   ``TERMS_MISMATCH``;
5. its revocation, grantor and owner epoch (``grants[id]``), then the terms' window against ``at``: ``_judge``.

What a node answering the reads learns is the slots: each a hash of a contract's slot number and the asset, an
org (the grantee and the asset's owner), the grant's key or its id. Hashes of known names and of the keys the
chain holds are easy to recognise, so it may learn which grant is checked and for which grantee; never its
purpose, window, quota or salt, which no slot depends on. :class:`StorageReads` reads the words with
``eth_getStorageAt`` (the node's word, as ``check_private``'s answer is); given a :class:`TrustedHeads`,
:func:`check_private_here` reads them through ``chain.contracts.proven.ProvenState`` instead: each word proven by
``eth_getProof`` against the state root of a header a quorum of the validators sealed, followed from the
consortium's founding validators (``chain.lightclient``). A header or proof that does not check raises
:class:`UnprovenError`, naming why (as does a node that answers ``eth_getProof`` with an error): no verdict.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from chain.backend import Backend, EthTesterBackend, RpcBackend
from chain.contracts.grants import AccessGrantsClient, CheckResult, GrantStatus, PrivateTerms
from chain.contracts.layout import Location, StorageLayout, read
from chain.errors import BackendError, ChainError, MalformedError, RpcAnswerError
from chain.ids import MemberStatus, Role, name_to_bytes32

if TYPE_CHECKING:
    from web3.types import BlockIdentifier

    from chain.lightclient import JsonRpc, KeptHeader, VerifiedHeader

log = logging.getLogger("chain.contracts.privatecheck")

ZERO = b"\0" * 32

#: What :func:`verdict` reads with: the values at ``locations`` in contract ``name``'s storage, decoded.
Read = Callable[[str, Sequence[Location]], list[Any]]


def standing(read: Read, owner: bytes, retired: bool, grantee: bytes | None) -> GrantStatus | None:
    """``AccessGrants._standing``: the refusals that come before any grant (of the owner only when ``grantee``
    is None); None when there is none."""
    if owner == ZERO:
        return GrantStatus.UNKNOWN_ASSET
    if retired:
        return GrantStatus.ASSET_RETIRED
    members = StorageLayout.of("ConsortiumRegistry").variable("members")
    orgs = [owner] if grantee is None else [grantee, owner]
    infos = read(
        "ConsortiumRegistry", [loc for org in orgs for loc in (members.at(org).member("status"),
                                                             members.at(org).member("roles"))]
    )  # fmt: skip
    if grantee is not None:
        status, roles = infos[0], infos[1]
        if status == MemberStatus.SUSPENDED:
            return GrantStatus.GRANTEE_SUSPENDED
        if status != MemberStatus.ACTIVE or not roles & Role.MEMBER:
            return GrantStatus.GRANTEE_NOT_MEMBER
    if infos[-2] != MemberStatus.ACTIVE:
        return GrantStatus.OWNER_SUSPENDED
    return None


def revoked_or_moved(grant: Mapping[str, Any], owner: bytes, transfers: int) -> GrantStatus | None:
    """The part of ``AccessGrants._judge`` that needs no window: ``grant`` holds the stored ``revoked_at``,
    ``grantor`` and ``owner_epoch``."""
    if grant["revoked_at"] != 0:
        return GrantStatus.REVOKED
    if grant["grantor"] != owner or grant["owner_epoch"] != transfers:
        return GrantStatus.OWNERSHIP_CHANGED
    return None


def judge(
    grant: Mapping[str, Any], owner: bytes, transfers: int, not_before: int, expires_at: int, at: int
) -> GrantStatus:
    """``AccessGrants._judge``: a found grant's answer at ``at`` within the window ``[not_before, expires_at)``."""
    early = revoked_or_moved(grant, owner, transfers)
    if early is not None:
        return early
    if at < not_before:
        return GrantStatus.NOT_YET_VALID
    if at >= expires_at:
        return GrantStatus.EXPIRED
    return GrantStatus.ALLOWED


def verdict(read: Read, terms: PrivateTerms, at: int) -> CheckResult:
    """What ``check_private(terms, at)`` answers in the state ``read`` reads, computed here (module docstring):
    ``read`` is given slots only, none of which depends on the terms' purpose, window, quota or salt."""
    if not isinstance(at, int) or not 0 <= at < 2**64:
        raise MalformedError(f"time must be a unix time in seconds, got {at!r}")
    asset = name_to_bytes32(terms.asset, "asset id")
    grantee = name_to_bytes32(terms.grantee, "org id")
    stored = StorageLayout.of("DataAssetRegistry").variable("assets").at(asset)
    owner, retired, transfers = read(
        "DataAssetRegistry", [stored.member("owner"), stored.member("retired"), stored.member("transfers")]
    )
    refused = standing(read, bytes(owner), bool(retired), grantee)
    if refused is not None:
        return CheckResult(refused, None)
    if grantee == owner:
        return CheckResult(GrantStatus.NO_GRANT, None)
    grants = StorageLayout.of("AccessGrants")
    (grant_id,) = read("AccessGrants", [grants.variable("private_current").at(asset).at(terms.key)])
    grant_id = bytes(grant_id)
    if grant_id == ZERO:
        return CheckResult(GrantStatus.NO_GRANT, None)
    grant = grants.variable("grants").at(grant_id)
    commitment, revoked_at, grantor, owner_epoch = read(
        "AccessGrants",
        [
            grants.variable("private_grants").at(grant_id).member("commitment"),
            grant.member("revoked_at"),
            grant.member("grantor"),
            grant.member("owner_epoch"),
        ],
    )
    if bytes(commitment) != terms.commitment:
        return CheckResult(GrantStatus.TERMS_MISMATCH, grant_id)
    stored_grant = {"revoked_at": revoked_at, "grantor": bytes(grantor), "owner_epoch": owner_epoch}
    status = judge(stored_grant, bytes(owner), transfers, terms.not_before, terms.expires_at, at)
    return CheckResult(status, grant_id)


class StorageReads:
    """:data:`Read` over ``eth_getStorageAt`` at block ``block``: one JSON-RPC batch per round of
    ``chain.contracts.layout.read`` (one request per word on another backend: eth-tester's, web3's)."""

    def __init__(self, backend: Backend, addresses: Mapping[str, str], block: int) -> None:
        self.backend = backend
        self.addresses = dict(addresses)
        self.block = block
        self.words_read = 0

    def read(self, contract: str, locations: Sequence[Location]) -> list[Any]:
        address = self.addresses.get(contract)
        if address is None:
            raise MalformedError(f"no address of {contract} to read")

        def fetch(slots: list[int]) -> Mapping[int, int]:
            self.words_read += len(slots)
            if isinstance(self.backend, RpcBackend):
                calls = [("eth_getStorageAt", [address, hex(s), hex(self.block)]) for s in slots]
                return {s: _word(v) for s, v in zip(slots, self.backend.batch(calls), strict=True)}
            if isinstance(self.backend, EthTesterBackend):
                return {s: _word(self.backend.storage_at(address, s, self.block)) for s in slots}
            web3 = self.backend.web3
            return {s: _word(bytes(web3.eth.get_storage_at(address, s, self.block))) for s in slots}  # type: ignore[arg-type]

        return read(locations, fetch)


def _word(value: object) -> int:
    """A storage word as a node answers it: ``0x`` and up to 64 hex digits (or 32 bytes from web3)."""
    if isinstance(value, bytes) and len(value) <= 32:
        return int.from_bytes(value, "big")
    if isinstance(value, str) and value.startswith("0x") and 2 < len(value) <= 66:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise MalformedError(f"a storage word must be 0x and at most 64 hex digits, got {str(value)[:80]!r}")


def head(backend: Backend) -> int:
    """The number of the latest block."""
    if isinstance(backend, RpcBackend):
        answer = backend.request("eth_blockNumber", [])
        if not isinstance(answer, str) or not answer.startswith("0x"):
            raise MalformedError(f"eth_blockNumber answered {str(answer)[:80]!r}")
        return int(answer, 16)
    return int(backend.web3.eth.block_number)


class UnprovenError(ChainError):
    """The storage words a check needs could not be proven: a header the light client does not accept, a proof
    that does not verify against its state root, no proof, or no contract at an address (fail closed)."""


class HeaderKeep(Protocol):
    """Where a :class:`TrustedHeads` keeps the last header it accepted, for the next one to resume from
    (``network.keptheader.KeptHeaderFile``). ``load`` answers None when nothing is kept yet and raises
    ``chain.lightclient.KeptHeaderError`` when what is kept cannot be read; ``save`` raises it when it cannot be
    written (what was kept is then unchanged). ``where`` names it in messages."""

    where: str

    def load(self) -> KeptHeader | None: ...

    def save(self, kept: KeptHeader) -> None: ...


class ProvenHeadersHealth(TypedDict):
    """What :meth:`TrustedHeads.health` reports (a gateway's ``/healthz``, ``chain.headers``)."""

    newest: int | None
    resumed_from: int | None
    kept: int | None
    checked: int
    keep_problem: str | None


#: How many headers proven back from a later one :class:`TrustedHeads` keeps (an anchor's block and its parent).
BACK_KEPT = 16


class TrustedHeads:
    """Headers of the chain at ``rpc`` accepted by the light client (``chain.lightclient``): the first from the
    genesis, whose validator set must be ``founders`` (the consortium's founding validators), each next one only
    when a quorum of the set its parent names sealed it. The newest accepted header is kept in memory, so a later
    block costs only the headers after it (one ``eth_getBlockByNumber`` batch per 200); an earlier block than the
    newest one is proven back from it by parent hashes when it is nearer the newest than the genesis
    (``chain.lightclient.walk_back``), else followed from the genesis again.

    With ``keep``, the newest accepted header is also kept there (``keep_every`` headers after the one kept last,
    and at :meth:`keep_now`), and the first walk resumes from the header kept there instead of the genesis
    (``chain.lightclient.resume``: of this chain's genesis, and the header the node serves at its number hashes to
    it); every header after it is still checked seal by seal. A kept header that cannot be read or that the chain
    does not lead through is refused (:class:`UnprovenError` naming it; it is left as it is, never written over,
    until someone moves it aside), so nothing is proven until it is. A kept header after the block asked for (a
    node behind the one that served it) is not used and not written over. Safe to share between threads (one walk
    at a time)."""

    def __init__(
        self, rpc: JsonRpc, founders: Collection[bytes], keep: HeaderKeep | None = None, *, keep_every: int = 1
    ) -> None:
        if not founders:
            raise MalformedError("proving storage words needs the founding validators: none were given")
        if keep_every < 1:
            raise MalformedError(f"keep_every must be at least 1, got {keep_every}")
        self.rpc = rpc
        self.founders = frozenset(bytes(f) for f in founders)
        self.keep = keep
        self.keep_every = keep_every
        self._lock = threading.Lock()
        self._genesis: VerifiedHeader | None = None
        self._newest: VerifiedHeader | None = None
        self._kept_number: int | None = None  # the number of the header in ``keep``, once read or written
        self._unchecked: KeptHeader | None = None  # a kept header after the blocks walked to so far
        self._back: dict[int, VerifiedHeader] = {}  # headers proven back from a later one, the latest few
        self.headers_checked = 0
        #: The header this walk resumed from (its number), when it resumed from a kept one.
        self.resumed_from: int | None = None
        #: Why the newest header could not be kept, if the last attempt failed (the checks are not affected).
        self.keep_problem: str | None = None

    @property
    def newest(self) -> VerifiedHeader | None:
        return self._newest

    def health(self) -> ProvenHeadersHealth:
        """For a gateway's ``/healthz``: the newest header accepted (its number; None before the first walk), the
        kept header the first walk resumed from (None: from the genesis, or no walk yet), the number of the
        header kept now, the headers checked so far and why the newest could not be kept, if it could not."""
        newest = self._newest
        return {
            "newest": None if newest is None else newest.number,
            "resumed_from": self.resumed_from,
            "kept": self._kept_number,
            "checked": self.headers_checked,
            "keep_problem": self.keep_problem,
        }

    def at(self, number: int) -> VerifiedHeader:
        """Block ``number``'s header, accepted (``HeaderChainError`` if it, or one before it, is not;
        :class:`UnprovenError` if the kept header is refused)."""
        return self.toward(number)

    def sealers(self, number: int) -> tuple[VerifiedHeader, VerifiedHeader]:
        """Block ``number``'s parent, whose validator set seals it (block 0, the founding set, for block 1), and
        block ``number``'s header, both accepted (as :meth:`at`; the parent back from the block, by its parent
        hash)."""
        header = self.at(number)
        return (self.at(number - 1) if number > 1 else self._genesis_header()), header

    def toward(self, number: int, step: int | None = None) -> VerifiedHeader:
        """As :meth:`at`, walking at most ``step`` headers: the header reached, block ``number``'s or an earlier
        one (a long walk in steps, releasing the lock between them, as a gateway's header follower does)."""
        from chain import lightclient

        if number < 1:
            raise lightclient.HeaderChainError(number, "block 0 carries no seals: its state cannot be proven here")
        with self._lock:
            newest = self._newest
            if newest is not None and number < newest.number and newest.number - number < number:
                # nearer the newest header than the genesis: back by parent hashes (kept headers stay as they are),
                # from the nearest header proven so before, if any
                header = self._back.get(number)
                if header is None:
                    later = [h for h in self._back.values() if h.number > number]
                    start = min(later, key=lambda h: h.number) if later else newest
                    header = lightclient.walk_back(self.rpc, start, number)
                    self.headers_checked += start.number - number
                    while len(self._back) >= BACK_KEPT:
                        del self._back[next(iter(self._back))]
                    self._back[number] = header
                return header
            start = self._start(number)
            target = number if step is None else min(number, start.number + step)
            header = lightclient.follow(self.rpc, start, target)
            self.headers_checked += header.number - start.number
            if self._newest is None or header.number >= self._newest.number:
                self._newest = header
            if self._unchecked is not None and self._newest.number >= self._unchecked.number:
                with self._refusing():
                    lightclient.resume(self.rpc, self._genesis_header(), self._unchecked)
                self._unchecked = None
            if self._kept_number is None or header.number >= self._kept_number + self.keep_every:
                self._keep()
            return header

    def keep_now(self, wait_s: float = 1.0) -> None:
        """Keep the newest accepted header now, if it is newer than the one kept (as a gateway stops). A walk
        still running after ``wait_s`` (a long one from the genesis) is not waited for: what it accepted is lost
        and the kept header stays as it was."""
        if not self._lock.acquire(timeout=wait_s):
            log.warning("the newest trusted header is not kept: a walk of the headers is still running")
            return
        try:
            if self._newest is not None and (self._kept_number is None or self._newest.number > self._kept_number):
                self._keep()
        finally:
            self._lock.release()

    def _start(self, number: int) -> VerifiedHeader:
        """Where a walk to ``number`` starts: the newest header accepted, else the kept one, else the genesis."""
        from chain import lightclient

        if self._newest is not None and self._newest.number <= number:
            return self._newest
        genesis = self._genesis_header()
        if self._newest is not None or self.keep is None:
            return genesis
        with self._refusing():
            kept = self.keep.load()
        if kept is None:
            log.info("the trusted headers are followed from the genesis: no header is kept in %s yet", self.keep.where)
            return genesis
        if kept.number > number:  # an earlier block, or a node behind: checked once the walk passes it
            self._kept_number, self._unchecked = kept.number, kept
            log.info(
                "the trusted headers are followed from the genesis to block %d: the header kept in %s is of block "
                "%d, after it, and is checked once the walk passes it",
                number,
                self.keep.where,
                kept.number,
            )
            return genesis
        with self._refusing():
            header = lightclient.resume(self.rpc, genesis, kept)
        self._kept_number = self.resumed_from = header.number
        log.info("the trusted headers resume from block %d, the header kept in %s", header.number, self.keep.where)
        return header

    def _genesis_header(self) -> VerifiedHeader:
        from chain import lightclient

        if self._genesis is None:
            self._genesis = lightclient.trust_genesis(lightclient.block_at(self.rpc, 0), self.founders)
        return self._genesis

    @contextlib.contextmanager
    def _refusing(self) -> Iterator[None]:
        """A kept header refused (``KeptHeaderError``) as :class:`UnprovenError`, naming where it is kept."""
        from chain import lightclient

        try:
            yield
        except lightclient.KeptHeaderError as exc:
            where = self.keep.where if self.keep is not None else "(none)"
            raise UnprovenError(
                f"the kept trusted header {where} is refused: {exc} (it is left as it is: move it aside to follow "
                f"the headers from the genesis again)"
            ) from exc

    def _keep(self) -> None:
        from chain import lightclient

        if self.keep is None or self._newest is None or self._genesis is None or self._unchecked is not None:
            return
        if self._kept_number is not None and self._newest.number <= self._kept_number:
            return
        try:
            self.keep.save(lightclient.KeptHeader.of(self._genesis, self._newest))
        except lightclient.KeptHeaderError as exc:
            self.keep_problem = str(exc)
            log.warning("the newest trusted header is not kept: %s", exc)
            return
        self._kept_number, self.keep_problem = self._newest.number, None


@contextlib.contextmanager
def _unproven(refused: str, unchecked: str) -> Iterator[None]:
    """A header or proof read inside fails closed as :class:`UnprovenError`: the node's JSON-RPC refusal as
    ``refused``, anything else it does not accept as ``unchecked``; an unreachable node stays a ``BackendError``."""
    try:
        yield
    except UnprovenError:
        raise
    except RpcAnswerError as exc:
        raise UnprovenError(f"{refused}: {exc}") from exc
    except BackendError:
        raise
    except ChainError as exc:
        raise UnprovenError(f"{unchecked}: {exc}") from exc


def check_private_here(
    grants: AccessGrantsClient,
    terms: PrivateTerms,
    at: int,
    block: BlockIdentifier = "latest",
    *,
    proven: TrustedHeads | None = None,
) -> CheckResult:
    """``grants.check_private(terms, at)``'s answer at ``block`` (a number, or the latest block, pinned first so
    that every word is of one block), computed here: the node is asked for storage words by slot, never the terms
    (:func:`verdict`). With ``proven``, every word is proven against the state root of ``block``'s header as
    ``proven`` accepts it (:class:`UnprovenError` when the header or a proof does not check); without, it is the node's
    word."""
    number = block if isinstance(block, int) else head(grants.backend)
    if proven is None:
        return verdict(StorageReads(grants.backend, grants.linked, number).read, terms, at)
    from chain.contracts.proven import ProvenState

    with _unproven(f"block {number}'s header: the node refused it", f"block {number}'s header is not accepted"):
        header = proven.at(number)
    state = ProvenState(proven.rpc, header, grants.linked)

    def read(contract: str, locations: Sequence[Location]) -> list[Any]:
        where = f"{contract}'s storage at block {number}"
        with _unproven(f"{where}: no proof", f"{where} is not proven"):
            return state.read(contract, locations)

    return verdict(read, terms, at)


__all__ = [
    "HeaderKeep",
    "Read",
    "StorageReads",
    "TrustedHeads",
    "UnprovenError",
    "check_private_here",
    "head",
    "judge",
    "revoked_or_moved",
    "standing",
    "verdict",
]
