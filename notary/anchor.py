"""Anchoring: the newest published checkpoint goes on chain through AuditAnchor, exactly once.

Every ``interval`` seconds, or sooner once ``every_events`` entries arrived since the last anchor, the newest
published checkpoint larger than the last anchored one is anchored as ``anchor(origin, size, root,
digest(checkpoint body))``, the digest SHA-256, or SM3 for a log of the ``sm`` suite (``notary.logsuite``).
A log of the ``sm`` suite, given its SM2 key, calls ``anchor_signed`` instead, with the log key's signature over
``chain.contracts.anchor_message`` of the same four values, which AuditAnchor checks with the SM2 precompile
against the notary member's LOG_KEY in the TrustDirectory (docs/national-suite.md). An AuditAnchor of an ``sm``
consortium refuses plain ``anchor`` (``signed_only``), and the notary never sends it one. Only an AuditAnchor
deployed before ``signed_only`` that cannot check (no ``anchor_signed``, or a chain without the precompile) gets
plain ``anchor`` from an ``sm`` log, so that an old consortium keeps anchoring, unchecked.
Exactly once, even across crashes:

1. the transaction is built, signed, and its raw bytes, hash and nonce stored (state ``sent``) *before* it is
   broadcast;
2. on every step (and so after a restart) each ``sent`` anchor is resolved: a receipt found → ``confirmed``;
   the chain already holds an anchor at that size (sent by an earlier life of this process) → ``confirmed``;
   the nonce was consumed by something else → ``failed`` and a new anchor is made later; otherwise the same
   raw bytes are broadcast again (the same nonce, so the chain accepts at most one of them).

Chain unreachable → the step fails, the next one retries with exponential backoff; nothing is lost because
the intent is on disk. The chain client is made lazily, at the first step rather than when the notary starts,
and made anew after every failed step: a notary starts, sequences and publishes checkpoints while the chain is
down, and anchors the newest published checkpoint once it answers again. After each confirmation the on-chain
root at that size is compared with the log's own root: a mismatch raises a tamper alarm naming the size.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, TypedDict

from chain.contracts import AuditAnchorClient, anchor_message
from chain.contracts.anchor import SM2_VERIFY_ADDRESS, has_sm2_verify
from chain.errors import ChainError
from chain.tx import Signer, build_transaction
from notary.log.checkpoint import parse_checkpoint
from notary.log.errors import MalformedError
from notary.log.note import parse_note
from notary.logsuite import INTL, SM, LogSuite
from notary.reader import LogReader
from notary.storage.base import ANCHORS_CHECKED_KEY, AnchorRow, CheckpointRow, NotaryStorage, NotLeaderError
from suite.sm2 import DEFAULT_ID, SM2PrivateKey

log = logging.getLogger("notary.anchor")
CHECKED_KEY = ANCHORS_CHECKED_KEY  # meta key: the largest anchored size whose on-chain root was compared


def checkpoint_digest(note: bytes, suite: LogSuite = INTL) -> bytes:
    """What AuditAnchor stores beside the root: the suite's digest (SHA-256, or SM3 under ``sm``; 32 bytes either
    way) of the checkpoint body, the note's text without its signatures."""
    return suite.digest(parse_note(note).text.encode("utf-8"))


#: A connected AuditAnchor client, or a function that connects one (e.g. ``RpcBackend(url)`` inside: it raises
#: ``BackendError`` while the chain does not answer).
ChainClient: TypeAlias = AuditAnchorClient | Callable[[], AuditAnchorClient]


#: What the anchorer asks, through the chain client's backend, for the key of the account to anchor from now.
AccountKey: TypeAlias = Callable[[Any], "bytes | None"]


class AnchoringStatus(TypedDict):
    """What :meth:`Anchorer.status` reports, in the notary's health as ``anchoring``."""

    last_error: str | None
    failing_since_ms: int | None
    retry_at_ms: int | None
    connected: bool


class Anchorer:
    def __init__(
        self,
        store: NotaryStorage,
        reader: LogReader,
        anchors: ChainClient,
        signer: Signer,
        origin: str,
        interval: float = 10.0,
        every_events: int = 100_000,
        clock: Callable[[], float] = time.time,
        max_backoff: float = 60.0,
        suite: LogSuite = INTL,
        log_key: SM2PrivateKey | None = None,
        retired: Sequence[tuple[str, int]] = (),
        account: AccountKey | None = None,
    ) -> None:
        """``log_key``: the log's SM2 key, which an ``sm`` log needs to anchor (``anchor_signed``); None for an
        ``intl`` log, which anchors unsigned (``anchor``). ``retired``: AuditAnchors this log was anchored on
        before ``anchors`` (address, last size anchored there; ``consortium notary migrate-anchor``), where the
        roots of the anchors up to that size are compared. ``account``: asked before each anchor is sent, the key
        of the account to send it from now (the notary member's account rotated, ``identity rotate-account``);
        another than ``signer``'s replaces it from that anchor on. None: ``signer`` always."""
        if suite.name == SM.name and not isinstance(log_key, SM2PrivateKey):
            raise MalformedError("a log of the 'sm' suite anchors with its SM2 log key's signature: give log_key")
        self.store = store
        self.suite = suite
        self.log_key = log_key
        self.retired = tuple(retired)
        self._signing_client: AuditAnchorClient | None = None
        self._checks = False
        self.reader = reader
        self._client: AuditAnchorClient | None = None
        self._connect: Callable[[], AuditAnchorClient]
        if isinstance(anchors, AuditAnchorClient):
            given = self._client = anchors
            self._connect = lambda: given
        else:
            self._connect = anchors
        self._connect_lock = threading.Lock()
        self.signer = signer
        self.account = account
        self.origin = origin
        self.interval = interval
        self.every_events = every_events
        self.max_backoff = max_backoff
        self._clock = clock
        self._last_attempt = 0.0
        self.last_error: str | None = None
        self.failing_since_ms: int | None = None  # when the current run of failed steps began
        self.retry_at_ms: int | None = None  # when the next step runs, while failing

    @property
    def anchors(self) -> AuditAnchorClient:
        return self.client()

    def client(self) -> AuditAnchorClient:
        """The chain client, connected now if it is not yet (raises ``ChainError`` while the chain is down)."""
        client = self._client
        if client is None:
            with self._connect_lock:
                client = self._client
                if client is None:
                    client = self._client = self._connect()
        return client

    def _signs(self) -> bool:
        """Whether to anchor with ``anchor_signed``, decided once per client. An ``sm`` log always does where
        AuditAnchor can check: one deployed ``signed_only`` (every ``sm`` consortium since) takes nothing else, and
        a chain without the precompile is then an error that pauses anchoring rather than a string of reverted
        transactions. One deployed before the flag gets ``anchor_signed`` when it has a TrustDirectory and the
        chain the precompile, and plain ``anchor`` otherwise, so an old ``sm`` consortium keeps anchoring."""
        client = self.anchors
        if self._signing_client is not client:
            signed_only = client.signed_only()
            if self.log_key is None:
                if signed_only:
                    raise ChainError(
                        f"AuditAnchor {client.address} refuses unsigned anchors (signed_only), and this log of the "
                        f"{self.suite.name!r} suite has no SM2 key to sign them"
                    )
                checks = False
            elif signed_only:
                if not has_sm2_verify(client.backend):
                    raise ChainError(
                        f"AuditAnchor {client.address} takes only anchors it checks, and this chain has no "
                        f"SM2-verify precompile at {SM2_VERIFY_ADDRESS}: nothing can be anchored on it"
                    )
                checks = True
            else:
                checks = client.checks_signatures()
            self._checks = checks
            self._signing_client = client
        return self._checks

    @property
    def connected(self) -> bool:
        return self._client is not None

    def disconnect(self) -> None:
        """Forget the client: the next use connects anew (the chain may have come back elsewhere or restarted)."""
        self._client = None

    @property
    def _web3(self) -> Any:
        return self.anchors.backend.web3

    def step(self, force: bool = False) -> None:
        """Resolve sent anchors, then anchor the newest published checkpoint if one is due."""
        self.client()  # connect first, so an unreachable chain shows even when nothing is due
        self._resolve()
        candidate = self._due(force)
        if candidate is not None:
            self._send(candidate)
            self._resolve()
        self._check_roots()

    def _due(self, force: bool) -> CheckpointRow | None:
        published = self.store.latest_checkpoint(published=True)
        if published is None:
            return None
        last, pending = self.store.anchor_progress()
        if published.size <= last or pending:
            return None
        now = self._clock()
        if force or now - self._last_attempt >= self.interval or published.size - last >= self.every_events:
            return published
        return None

    def _send(self, checkpoint: CheckpointRow) -> None:
        assert checkpoint.cosigned is not None
        cp = parse_checkpoint(parse_note(checkpoint.note).text)
        digest = checkpoint_digest(checkpoint.note, self.suite)
        key = self.log_key if self._signs() else None
        if key is None:
            data = self.anchors.encode("anchor", self.origin, cp.size, cp.root, digest)
        else:
            point = key.public_key().public_bytes()
            signature = key.sign(anchor_message(self.origin, cp.size, cp.root, digest), DEFAULT_ID)
            args = (point[1:33], point[33:], signature[:32], signature[32:])
            data = self.anchors.encode("anchor_signed", self.origin, cp.size, cp.root, digest, *args)
        self._follow_account()
        with self.signer.sending():  # in nonce order with any other sender of this signer (chain.tx.Signer)
            self.signer.forget_nonce()  # the chain's pending count is the truth after any restart or failure
            tx = build_transaction(self.anchors.backend, self.signer, self.anchors.address, data, label="anchor")
            signed = self.signer.account.sign_transaction(tx)  # type: ignore[arg-type]
            tx_hash = "0x" + bytes(signed.hash).hex()
            now_ms = int(self._clock() * 1000)
            self.store.anchor_sent(cp.size, tx_hash, bytes(signed.raw_transaction), int(tx["nonce"]), now_ms)
            self._last_attempt = now_ms / 1000  # only a stored intent counts: a failed build is retried at once
            log.info("anchoring checkpoint %d in transaction %s", cp.size, tx_hash)
            self._broadcast(bytes(signed.raw_transaction))

    def _broadcast(self, raw: bytes) -> None:
        # imported here, where web3 is in use: a process that only imports the notary's settings loads none of it
        from eth_utils.exceptions import ValidationError as EthValidationError
        from web3.exceptions import Web3RPCError

        try:
            self._web3.eth.send_raw_transaction(raw)
        # "already known", "nonce too low": resolution decides what it means. A node over JSON-RPC answers with an
        # error web3.py raises as Web3RPCError; an in-process eth-tester chain raises eth_utils' ValidationError.
        except (ValueError, Web3RPCError, EthValidationError) as exc:
            log.info("broadcast answered: %s", exc)

    def _resolve(self) -> None:
        for row in self.store.anchors(state="sent"):
            self._resolve_one(row)

    def _resolve_one(self, row: AnchorRow) -> None:
        size = row["size"]
        receipt = self._receipt(row["tx_hash"]) or self._wait(row["tx_hash"], 2.0)
        if receipt is None:
            on_chain = self.anchors.at_size(self.origin, size)
            if on_chain is not None:  # anchored by an earlier life of this notary
                block = self._web3.eth.get_block(on_chain.block_number)
                self._confirm(size, on_chain.block_number, "0x" + bytes(block["hash"]).hex())
                return
            if self._nonce_used(row):
                self._fail(size, "nonce taken by another transaction")
                return
            self._broadcast(row["raw_tx"])  # never reached the chain, or dropped: the same bytes again
            receipt = self._wait(row["tx_hash"], 5.0)
            if receipt is None:
                return  # still pending; the next step looks again
        if receipt["status"] == 1:
            self._confirm(size, int(receipt["blockNumber"]), "0x" + bytes(receipt["blockHash"]).hex())
        else:
            self._fail(size, "reverted")

    def _receipt(self, tx_hash: str) -> Any:
        from hexbytes import HexBytes
        from web3.exceptions import TransactionNotFound

        try:
            return self._web3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def _wait(self, tx_hash: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            receipt = self._receipt(tx_hash)
            if receipt is not None:
                return receipt
            time.sleep(0.05)
        return None

    def _follow_account(self) -> None:
        """Send from the account ``account`` names now, when it names another than the signer's."""
        if self.account is None:
            return
        key = self.account(self.anchors.backend)
        if key is None:
            return
        signer = Signer.from_key(key)
        if signer.address != self.signer.address:
            log.warning("anchoring from the account %s now, not %s: the notary member's account rotated",
                        signer.address, self.signer.address)  # fmt: skip
            self.signer = signer

    def _nonce_used(self, row: AnchorRow) -> bool:
        """Whether the nonce of ``row``'s transaction is taken on chain, by the account that signed it (which need
        not be the one anchoring now: ``account``)."""
        from eth_account import Account

        sender = Account.recover_transaction(row["raw_tx"])
        return int(self._web3.eth.get_transaction_count(sender, "latest")) > row["nonce"]

    def _confirm(self, size: int, block_number: int, block_hash: str) -> None:
        self.store.anchor_confirmed(size, block_number, block_hash, int(self._clock() * 1000))
        log.info("checkpoint %d anchored in block %d", size, block_number)

    def _fail(self, size: int, why: str) -> None:
        self.store.anchor_failed(size)
        log.warning("anchor of checkpoint %d failed (%s); a newer checkpoint will be anchored", size, why)

    def _check_roots(self) -> None:
        """Compare each confirmed anchor's on-chain root with the log's root at that size, once per anchor: the
        store remembers the largest size checked (``anchors_checked``), so a step reads only anchors confirmed
        since, and a restart does not check every anchor of the log's life again (anchors are confirmed in size
        order: one is sent only once the one before is resolved). Each mark, with its alarm, is a leader-only
        write (``NotaryStorage.anchor_checked``)."""
        checked = int(self.store.meta(CHECKED_KEY) or 0)
        for row in self.store.anchors(state="confirmed", after=checked, limit=100):
            size = row["size"]
            info = self._holder(size).at_size(self.origin, size)
            ours = self.reader.root_at(size)
            message = None
            if info is None or info.root_hash != ours:
                found = "no anchor" if info is None else "root " + info.root_hash.hex()
                message = f"tamper alarm: the chain holds {found} for size {size}; the log's root is {ours.hex()}"
                log.error("ALARM %s", message)
            # fenced (leader-only), the alarm with the mark: a replaced leader records neither, its successor
            # compares this anchor again and raises the alarm once
            self.store.anchor_checked(size, int(self._clock() * 1000), message)

    def _holder(self, size: int) -> AuditAnchorClient:
        """The AuditAnchor that holds the anchor of ``size``: the retired one it was anchored on, if it is no larger
        than the last size anchored there, else the current one."""
        client = self.anchors
        for address, last in self.retired:
            if size <= last:
                return AuditAnchorClient(client.backend, address)
        return client

    def run(self, stop: threading.Event, tick: float = 0.5, leading: Callable[[], bool] = lambda: True) -> None:
        """Step every ``tick`` seconds while ``leading()`` (one replica of a shared store anchors); after a failed
        step wait twice as long as before (at least 1 s, at most ``max_backoff``), reconnecting to the chain at
        the next step. Nothing is lost while waiting: the checkpoints to anchor and any sent anchor are in the
        store, and a new leader resolves the anchors its predecessor sent."""
        delay = tick
        while not stop.wait(delay):
            if not leading():
                delay = tick
                continue
            try:
                self.step()
            except NotLeaderError as exc:  # lost the lead during the step: its write was refused
                log.info("anchoring step stopped: %s", exc)
                delay = tick
            except Exception as exc:  # the chain client raises many kinds (requests', web3's, ours): keep trying
                delay = min(self.max_backoff, max(delay * 2, 1.0))
                self._failed(exc, delay)
            else:
                if self.last_error is not None:
                    log.info("anchoring resumed after: %s", self.last_error)
                self.last_error = self.failing_since_ms = self.retry_at_ms = None
                delay = tick

    def _failed(self, exc: Exception, delay: float) -> None:
        self.disconnect()
        now_ms = int(self._clock() * 1000)
        self.last_error = f"{exc.__class__.__name__}: {exc}"[:500]
        if self.failing_since_ms is None:
            self.failing_since_ms = now_ms
        self.retry_at_ms = now_ms + int(delay * 1000)
        if isinstance(exc, ChainError | OSError | ValueError):
            log.warning("anchoring paused (%s); retrying in %.0f s", self.last_error, delay)
        else:
            log.exception("anchoring step failed; retrying in %.0f s", delay)

    def status(self) -> AnchoringStatus:
        """For the notary's health: the last error (None while anchoring works), since when steps fail, when the
        next one runs, and whether a chain client is connected."""
        return {
            "last_error": self.last_error,
            "failing_since_ms": self.failing_since_ms,
            "retry_at_ms": self.retry_at_ms,
            "connected": self.connected,
        }
