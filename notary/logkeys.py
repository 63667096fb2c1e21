"""The log's keys over its life: which log key a checkpoint or a receipt must be signed by, and the notary's signer
that changes key while it runs.

A log keeps its origin for life but may rotate its key (``consortium notary rotate-key``): the notary's member
adds the new key to the TrustDirectory as a LOG_KEY valid from a block, the notary signs with it once the chain
head reaches that block, and the old key is retired at a later block. Every key record says from which block it
counts (``valid_from``) and, once ended, from which block it no longer does (``valid_until``; retired by the
member or declared compromised by a regulator). A note names the key that signed it by its C2SP key id (the key
name is the origin, the same for every key of the log; the key id hashes the public key too), so a verifier picks
the key by id, never by trying them all.

**The rule** (``docs/trust.md``, "The log's key over time"). A checkpoint counts only under a log key whose record
is valid at the block that *anchors* it, the block of the AuditAnchor transaction that holds its digest (or, for a
checkpoint not anchored yet, at the chain head the verifier reads): the anchor is the first moment the chain
witnesses that the checkpoint existed, so a key retired (or compromised) at block ``R`` can make no checkpoint that
counts with an anchor at ``R`` or later, and no unanchored one once the head passed ``R``. A receipt (the batch
statement a notary returns at once) counts under a log key valid at some block up to the anchor block of the
checkpoint the bundle proves it into, and not declared compromised as of a block at or before that anchor block:
a receipt precedes the checkpoint that includes its entry, so a key retired since still vouches for the receipts it
signed before. A key not on chain counts for nothing.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chain.contracts.trust import KeyKind, KeyRecord, KeyState
from notary.log.errors import MalformedError, NotaryError, VerificationError
from notary.log.note import NoteSignature, parse_note
from notary.logsuite import LogSigner, LogSuite, LogVerifier


class LogKeyError(VerificationError):
    """A note signed by no log key on chain, or by one not valid when the rule above needs it."""


@dataclass(frozen=True, slots=True)
class LogKey:
    """One log key as the TrustDirectory records it: its verifier (named by the log's origin) and validity."""

    verifier: LogVerifier
    valid_from: int
    valid_until: int | None = None
    compromised: bool = False
    index: int = 0

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    def valid_at(self, block: int) -> bool:
        return self.valid_from <= block and (self.valid_until is None or block < self.valid_until)

    def describe(self) -> str:
        until = "" if self.valid_until is None else f" until block {self.valid_until}"
        end = " (declared compromised)" if self.compromised else " (retired)" if self.valid_until is not None else ""
        return f"log key {self.key_id.hex()} (record {self.index}) valid from block {self.valid_from}{until}{end}"


@dataclass(frozen=True, slots=True)
class LogKeys:
    """Every log key of one log (origin) the chain records, judged at block ``head`` when a note's anchor block is
    not given: the chain head as read, or, once :meth:`at` the block chosen for one checkpoint (its anchor's block,
    ``anchored``; the same block its witness keys are chosen at, ``network.witnesskeys``)."""

    origin: str
    keys: tuple[LogKey, ...]
    head: int
    anchored: bool = False

    @classmethod
    def from_records(cls, origin: str, suite: LogSuite, records: Iterable[KeyRecord], head: int) -> LogKeys:
        """The LOG_KEY records among ``records`` (the notary member's) as keys of the log ``origin``; a record
        that is no key of ``suite`` is skipped (it cannot have signed this log)."""
        keys = []
        for r in records:
            if r.kind is not KeyKind.LOG_KEY:
                continue
            try:
                verifier = suite.note_verifier(origin, r.value)
            except MalformedError:
                continue
            keys.append(LogKey(verifier, r.valid_from, r.valid_until, r.state is KeyState.COMPROMISED, r.index))
        return cls(origin, tuple(keys), head)

    def at(self, block: int, anchored: bool) -> LogKeys:
        """These keys judged at ``block``: the anchor's block of the checkpoint (``anchored``), or a head."""
        return dataclasses.replace(self, head=block, anchored=anchored)

    def where(self) -> str:
        """What block notes are judged at when no anchor block is given."""
        return f"its anchor's block {self.head}" if self.anchored else f"the chain head {self.head}"

    def valid(self, block: int | None = None) -> list[LogVerifier]:
        """The verifiers of the keys valid at ``block`` (the head by default): what a witness trusts now."""
        at = self.head if block is None else block
        return [k.verifier for k in self.keys if k.valid_at(at)]

    def signer_of(self, note: bytes) -> LogKey:
        """The key on chain that a signature line of ``note`` names (by the log's origin and key id). Raises
        LogKeyError when no line names one; the signature itself is checked by the caller (``open_note``)."""
        signatures: Sequence[NoteSignature] = parse_note(note).signatures
        by_id = {k.key_id: k for k in self.keys}
        for sig in signatures:
            if sig.name == self.origin and sig.key_id in by_id:
                return by_id[sig.key_id]
        named = ", ".join(sorted({s.key_id.hex() for s in signatures if s.name == self.origin})) or "none"
        raise LogKeyError(
            f"signed by no log key of {self.origin} on chain (key ids of the log's name on the note: {named}; "
            f"on chain: {', '.join(k.key_id.hex() for k in self.keys) or 'none'})"
        )

    def for_checkpoint(self, note: bytes, anchored_at: int | None) -> LogKey:
        """The key a checkpoint note must verify under: the one it names, valid at the block that anchors it
        (``anchored_at``) or, not given, at :attr:`head` (:meth:`where`). LogKeyError otherwise."""
        key = self.signer_of(note)
        block, what = (
            (self.head, self.where()) if anchored_at is None else (anchored_at, f"its anchor's block {anchored_at}")
        )
        if not key.valid_at(block):
            raise LogKeyError(f"the checkpoint is signed by {key.describe()}, not valid at {what}")
        return key

    def for_receipt(self, note: bytes, bound: int | None) -> LogKey:
        """The key a receipt (batch statement note) must verify under: the one it names, valid at some block up
        to ``bound`` (the anchor block of the checkpoint proving the entry, else the head), and not declared
        compromised as of a block at or before it. LogKeyError otherwise."""
        key = self.signer_of(note)
        block = self.head if bound is None else bound
        if key.valid_from > block:
            raise LogKeyError(f"the receipt is signed by {key.describe()}, not yet valid at block {block}")
        if key.compromised and key.valid_until is not None and key.valid_until <= block:
            raise LogKeyError(
                f"the receipt is signed by {key.describe()}: compromised as of block {key.valid_until}, "
                f"at or before block {block}"
            )
        return key


class StaleLogKeyError(NotaryError):
    """This notary holds a log key the log has rotated away from (another replica of its shared store rotated):
    it signs nothing more (no receipt, no checkpoint) until it is given the key the log signs with now."""


class RotatingSigner:
    """The notary's log signer, whose key can change while it runs (:meth:`rotate`): each signature is made by
    the key current at that moment. It has the attributes of a ``LogSigner`` (name, key id, public key). A key
    found stale (:meth:`stale`) signs nothing until the next rotation."""

    def __init__(self, signer: LogSigner) -> None:
        self._signer = signer
        self._stale: str | None = None
        self._lock = threading.Lock()

    def stale(self, reason: str | None) -> None:
        """Refuse every signature (:class:`StaleLogKeyError` saying ``reason``) from now on; None: sign again."""
        with self._lock:
            self._stale = reason

    @property
    def current(self) -> LogSigner:
        with self._lock:
            return self._signer

    @property
    def name(self) -> str:
        return self.current.name

    @property
    def key_id(self) -> bytes:
        return self.current.key_id

    @property
    def public_key(self) -> bytes:
        return self.current.public_key

    def sign(self, text: str) -> NoteSignature:
        with self._lock:
            signer, stale = self._signer, self._stale
        if stale is not None:
            raise StaleLogKeyError(stale)
        return signer.sign(text)

    def rotate(self, signer: LogSigner) -> LogSigner:
        """Sign with ``signer`` from now on (same name: the log's origin); the signer before."""
        if signer.name != self.name:
            raise MalformedError(f"a log key is named by the log's origin {self.name!r}, not {signer.name!r}")
        with self._lock:
            before, self._signer, self._stale = self._signer, signer, None
        return before
