"""Mirroring the whole log from its C2SP tlog-tiles and checking that every published byte agrees.

``mirror_log`` reads ``checkpoint``, every entry bundle and every tile through a ``fetch(path) -> bytes``
callable (HTTP in ``cli.verify``, a dict in tests) and recomputes everything:

- the checkpoint's log signature (C2SP signed-note) under the log's origin, and the witnesses' cosignatures
  against the witness policy (C2SP tlog-cosignature);
- each entry is a valid event in canonical form, and its leaf hash (RFC 9162 §2.1.1);
- each tile, level by level: level 0 holds the leaf hashes, level L the roots of the full tiles of level L-1
  (C2SP tlog-tiles), partial tiles at the checkpoint's size included;
- the root at the checkpoint's size, and at every anchored size up to it, which must be the root the chain
  holds for that size (an anchored size beyond the checkpoint means the log went back: a failure).

**Hash only.** A notary that authenticates reads serves entry bundles (many firms' entries) to regulators and
its trusted readers only; a member's credential gets hash tiles and checkpoints. With ``entries="if-readable"``
a refused first bundle (``ReadRefusedError``, HTTP 403) switches to hash only, and with ``entries="skip"`` no
bundle is asked for: the level-0 tiles are then taken as the leaf hashes, and everything above them is still
recomputed: the higher-level tiles, the root at the checkpoint's size and at every anchored size. What is then
not checked is that each leaf hash is the hash of a valid event; ``events`` (a member's own event ids, read one
by one at ``v1/entries/<id>``, which the notary serves to the event's parties) are recomputed and compared with
their leaves in either mode.

**Since an earlier checkpoint.** Given ``previous`` (the checkpoint a member verified on an earlier run,
``notary.logstate``), the new checkpoint must extend it before anything else is read: a smaller tree is a log
that went back (``rollback``), another root at the same size a split view (``fork``), and a larger tree must
come with a consistency proof (RFC 9162 §2.1.4, ``v1/proofs/consistency``) from the earlier size and root to
the new ones that verifies (``inconsistent`` otherwise). Each raises ``CheckpointConflictError`` naming both
checkpoints.

Every hash is the one of the log's suite, which the log key of the trust roots pins (SHA-256 for ``intl``, SM3 for
``sm``: ``notary.logsuite``). Memory stays flat: one tile per level and a compact range of O(log n) hashes. The
first inconsistency raises ``LogMismatchError`` naming where (the tile or entry path, the index, the size).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from notary.event import parse_entry
from notary.log.checkpoint import Checkpoint, parse_checkpoint
from notary.log.compact import CompactRange
from notary.log.errors import MalformedError, NotaryError, VerificationError
from notary.log.hashing import TreeHash
from notary.log.note import open_note, parse_note
from notary.log.proof import verify_consistency
from notary.log.tiles import TILE_HEIGHT, TILE_WIDTH, entries_path, parse_entry_bundle, split_tile, tile_path
from notary.logsuite import LogSuite, LogVerifier
from notary.verify import TrustRoots, check_cosignatures, cosigning_witnesses

#: ``fetch(path)`` returns the bytes the log serves at ``path`` (``checkpoint``, ``tile/0/000``, ...), raising
#: a NotaryError (NotFoundError for a 404) when it cannot.
Fetch = Callable[[str], bytes]


#: Whether ``mirror_log`` reads the entry bundles: ``"required"`` (a refusal is a failure), ``"if-readable"``
#: (a refused first bundle switches to hash only) or ``"skip"`` (hash only, no bundle asked for).
EntriesMode = Literal["required", "if-readable", "skip"]


class ReadRefusedError(NotaryError):
    """``fetch`` was refused the read under the credential it sends (HTTP 401 or 403): not a fault of the log."""


class LogMismatchError(VerificationError):
    """The log's published data disagrees with itself, its keys or the chain; ``where`` names the place."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail


#: Why a checkpoint does not extend the one verified before: ``rollback`` (a smaller tree), ``fork`` (another
#: root at the same size), ``inconsistent`` (a larger tree whose consistency proof does not verify).
ConflictKind = Literal["rollback", "fork", "inconsistent"]


def describe_checkpoint(checkpoint: Checkpoint) -> str:
    """``size N, root <hex>``: how a message names a checkpoint."""
    return f"size {checkpoint.size}, root {checkpoint.root.hex()}"


class CheckpointConflictError(LogMismatchError):
    """The log's checkpoint does not extend the one verified on an earlier run. ``previous`` is that earlier
    checkpoint, ``current`` the log's now, and ``note`` the log-signed note of ``current`` as served (evidence:
    two checkpoints signed by the log key that cannot both be true)."""

    def __init__(self, kind: ConflictKind, previous: Checkpoint, current: Checkpoint, note: bytes, detail: str) -> None:
        super().__init__("consistency", detail)
        self.kind = kind
        self.previous = previous
        self.current = current
        self.note = note


@dataclass(frozen=True, slots=True)
class AnchorClaim:
    """What the chain holds for one anchored size of the log (AuditAnchor ``at_size``)."""

    size: int
    root: bytes
    checkpoint_digest: bytes
    block_number: int = 0
    #: For an ``sm`` log: the TrustDirectory index of the notary's SM2 log key that AuditAnchor checked this
    #: anchor's signature under (``anchor_signed``); None when the chain took it unchecked (plain ``anchor``).
    signature_key: int | None = None


@dataclass(slots=True)
class MirrorReport:
    """What ``mirror_log`` checked. ``tiles``: tiles recomputed and compared with the served ones (in hash
    only, those of level 1 and up); ``leaf_tiles``: level-0 tiles taken as the leaf hashes (hash only);
    ``entries_checked``: leaves recomputed from their entry; ``hash_only``: leaves checked by hash only;
    ``entries_refused``: why the entries were not read (``None`` when they were), ``refusal`` the notary's
    answer when it refused them; ``events_checked``: the
    ``events`` recomputed from their entry and found at their leaf; ``events_pending``: those sequenced beyond
    the checkpoint's size (not in the tree it signs yet)."""

    origin: str
    size: int
    root: bytes
    cosigners: str
    cosigned: int = 0
    witnesses: int = 0
    tiles: int = 0
    leaf_tiles: int = 0
    entries_checked: int = 0
    hash_only: int = 0
    entries_refused: str | None = None
    refusal: str | None = None
    events_checked: list[str] = field(default_factory=list)
    events_pending: list[str] = field(default_factory=list)
    anchors_checked: list[int] = field(default_factory=list)
    note: bytes = b""
    consistency: str | None = None
    #: which log key the checkpoint verified under: the one on chain it names (``roots.log_keys``) and where the
    #: log key came from (``roots.log_key_source``); empty: consortium.json's, not said
    log_key: str = ""


class _TileChecker:
    """Recomputes tiles level by level as hashes arrive and compares each with the one the log serves."""

    def __init__(self, fetch: Fetch, tree: TreeHash) -> None:
        self._fetch = fetch
        self._tree = tree
        self._buffers: list[list[bytes]] = []
        self._next: list[int] = []
        self.checked = 0

    def add(self, level: int, node: bytes) -> None:
        while len(self._buffers) <= level:
            self._buffers.append([])
            self._next.append(0)
        buffer = self._buffers[level]
        buffer.append(node)
        if len(buffer) == TILE_WIDTH:
            self._check(level, self._next[level], buffer)
            self._buffers[level] = []
            self._next[level] += 1
            self.add(level + 1, self._tree.root_of(buffer))

    def add_served_leaves(self, hashes: Sequence[bytes]) -> None:
        """A level-0 tile taken as served (hash only): a full one's root goes up to level 1."""
        if len(hashes) == TILE_WIDTH:
            self.add(1, self._tree.root_of(hashes))

    def finish(self) -> None:
        for level, buffer in enumerate(self._buffers):
            if buffer:
                self._check(level, self._next[level], buffer)

    def _check(self, level: int, index: int, expected: Sequence[bytes]) -> None:
        path = tile_path(level, index, len(expected))
        try:
            served = split_tile(_get(self._fetch, path))
        except MalformedError as exc:
            raise LogMismatchError(path, str(exc)) from exc
        if len(served) != len(expected):
            raise LogMismatchError(path, f"holds {len(served)} hashes, the checkpoint's size needs {len(expected)}")
        for j, (got, want) in enumerate(zip(served, expected, strict=True)):
            if got != want:
                node = index * TILE_WIDTH + j
                what = f"leaf {node}" if level == 0 else f"node {node} at height {TILE_HEIGHT * level}"
                source = "the entry's leaf hash" if level == 0 else "recomputed from the tiles below"
                raise LogMismatchError(path, f"hash {j} ({what}) is {got.hex()}, {source} is {want.hex()}")
        self.checked += 1


def _get(fetch: Fetch, path: str) -> bytes:
    """``fetch(path)``; a refusal of the credential propagates as ReadRefusedError, any other error is the log's."""
    try:
        return fetch(path)
    except ReadRefusedError:
        raise
    except NotaryError as exc:
        raise LogMismatchError(path, f"not served ({exc})") from exc


def verify_checkpoint_note(note: bytes, roots: TrustRoots) -> tuple[Checkpoint, str]:
    """The checkpoint in a cosigned note, checked against the log key, origin, witnesses and policy; and who
    cosigned it. Raises LogMismatchError("checkpoint", why). For a log whose key rotated (``roots.log_keys``),
    the key the note names must be valid at the block the roots' keys were chosen at (``network.witnesskeys``:
    the anchor's block of its size, or the chain head when none anchors it; ``notary.logkeys``)."""
    checkpoint, cosigners, _ = _verify_checkpoint(note, roots)
    return checkpoint, cosigners


def _log_key(note: bytes, roots: TrustRoots) -> LogVerifier:
    if roots.log_keys is None:
        return roots.log
    return roots.log_keys.for_checkpoint(note, None).verifier


def _log_key_said(note: bytes, roots: TrustRoots) -> str:
    """Which log key ``note`` verified under, and where it came from, as ``verify log`` says it."""
    parts = [] if roots.log_keys is None else [roots.log_keys.for_checkpoint(note, None).describe()]
    parts += [] if roots.log_key_source is None else [f"under the {roots.log_key_source}"]
    return "; ".join(parts)


def _verify_checkpoint(note: bytes, roots: TrustRoots) -> tuple[Checkpoint, str, int]:
    """``verify_checkpoint_note``, and how many of the known witnesses cosigned."""
    try:
        opened, _ = open_note(note, [_log_key(note, roots)])
        checkpoint = parse_checkpoint(opened.text)
        if checkpoint.origin != roots.origin:
            raise LogMismatchError("checkpoint", f"origin {checkpoint.origin!r}, the log's is {roots.origin!r}")
        cosigners = roots.counted_under(check_cosignatures(opened, roots.witnesses, roots.policy))
    except LogMismatchError:
        raise
    except NotaryError as exc:
        raise LogMismatchError("checkpoint", roots.counted_under(str(exc))) from exc
    return checkpoint, cosigners, len(cosigning_witnesses(opened, roots.witnesses)[0])


def _signed_size(note: bytes, roots: TrustRoots) -> int:
    """The size of the checkpoint ``note`` holds, once the log key's signature on it is checked: under
    consortium.json's key, or one of the log's keys on chain (``roots.log_keys``) whatever its validity, which is
    judged at the block the keys for this size are chosen at (``mirror_log``'s ``roots_for``)."""
    rotated = [] if roots.log_keys is None else [k.verifier for k in roots.log_keys.keys]
    try:
        opened, _ = open_note(note, [roots.log, *rotated])
        return parse_checkpoint(opened.text).size
    except NotaryError as exc:
        raise LogMismatchError("checkpoint", str(exc)) from exc


def mirror_log(
    fetch: Fetch,
    roots: TrustRoots,
    anchors: Sequence[AnchorClaim] = (),
    progress: Callable[[int], None] | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    entries: EntriesMode = "required",
    events: Sequence[str] = (),
    previous: Checkpoint | None = None,
    roots_for: Callable[[int], TrustRoots] | None = None,
) -> MirrorReport:
    """Mirror and check the whole log (see the module docstring); raises LogMismatchError at the first problem,
    ReadRefusedError when the checkpoint or a hash tile is refused to the credential ``fetch`` sends.

    ``progress(n)`` is called with the number of leaves each tile added; ``on_checkpoint`` once the
    checkpoint is verified (to size a progress bar). ``entries``: see ``EntriesMode``; ``events``: event ids
    whose entries are read by id and checked against their leaves; ``previous``: the checkpoint verified on an
    earlier run, which this one must extend (CheckpointConflictError otherwise); ``roots_for(size)``: the trust
    roots whose witnesses, policy and log keys the checkpoint of that size is checked under (those valid on chain
    at its anchor's block, one lookup for both, ``network.witnesskeys``), asked once a log key's signature on the
    checkpoint was checked; without it, ``roots``'s."""
    note = _get(fetch, "checkpoint")
    if roots_for is not None:
        roots = roots_for(_signed_size(note, roots))
    checkpoint, cosigners, cosigned = _verify_checkpoint(note, roots)
    consistency = None if previous is None else check_extends(fetch, previous, checkpoint, note, roots.suite)
    if on_checkpoint is not None:
        on_checkpoint(checkpoint)
    size = checkpoint.size
    beyond = sorted(a.size for a in anchors if a.size > size)
    if beyond:
        raise LogMismatchError(
            f"size {beyond[-1]}",
            f"the chain anchors size {beyond[-1]} but the log's checkpoint has only {size} entries: the log went back",
        )
    wanted = {a.size: a for a in anchors}
    report = MirrorReport(checkpoint.origin, size, checkpoint.root, cosigners, cosigned, len(roots.witnesses))
    report.note = note
    report.consistency = consistency
    report.log_key = _log_key_said(note, roots)
    suite = roots.suite
    own = _own_leaves(fetch, events, suite.tree)
    report.events_pending = sorted(event_id for index, (event_id, _) in own.items() if index >= size)
    compact = CompactRange(tree=suite.tree)
    tiles = _TileChecker(fetch, suite.tree)
    reading = entries != "skip"
    if not reading:
        report.entries_refused = "not asked for (hash only chosen)"
    for bundle_index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        first = bundle_index * TILE_WIDTH
        width = min(TILE_WIDTH, size - first)
        leaves: list[bytes] | None = None
        if reading:
            try:
                leaves = _bundle_leaves(fetch, bundle_index, width, suite.tree)
            except ReadRefusedError as exc:
                if entries == "required" or bundle_index > 0:  # refused after a bundle was served: not a rule
                    raise LogMismatchError(entries_path(bundle_index, width), f"refused ({exc})") from exc
                reading = False
                report.entries_refused = "not readable with this credential"
                report.refusal = str(exc)
        if leaves is not None:
            for leaf in leaves:
                tiles.add(0, leaf)
            report.entries_checked += width
        else:
            leaves = _served_leaves(fetch, bundle_index, width)
            tiles.add_served_leaves(leaves)
            report.leaf_tiles += 1
            report.hash_only += width
        for leaf in leaves:
            mine = own.get(compact.size)
            if mine is not None:
                _check_own(mine, compact.size, leaf)
                report.events_checked.append(mine[0])
            compact.append(leaf)
            claim = wanted.get(compact.size)
            if claim is not None:
                _check_anchor(claim, compact.root(), note if claim.size == size else None, suite)
                report.anchors_checked.append(claim.size)
        if progress is not None:
            progress(width)
    tiles.finish()
    report.tiles = tiles.checked
    calculated = compact.root()
    if calculated != checkpoint.root:
        source = "the entries" if report.hash_only == 0 else "the leaf hashes of the level-0 tiles"
        raise LogMismatchError(
            f"size {size}",
            f"{source} give root {calculated.hex()}, the checkpoint holds {checkpoint.root.hex()}",
        )
    return report


def check_extends(fetch: Fetch, previous: Checkpoint, current: Checkpoint, note: bytes, suite: LogSuite) -> str:
    """Check that ``current`` (verified, signed as ``note``) extends ``previous``, asking the log for the
    consistency proof between them; returns what was checked. CheckpointConflictError when it does not,
    LogMismatchError when the log serves no usable proof."""
    before, now = describe_checkpoint(previous), describe_checkpoint(current)
    if previous.origin != current.origin:
        raise LogMismatchError("consistency", f"the earlier checkpoint is of log {previous.origin!r}, not this one")
    if current.size < previous.size:
        raise CheckpointConflictError(
            "rollback", previous, current, note,
            f"the log went back: its checkpoint ({now}) is smaller than the one verified before ({before})",
        )  # fmt: skip
    if current.size == previous.size:
        if current.root != previous.root:
            raise CheckpointConflictError(
                "fork", previous, current, note,
                f"the log forked: its checkpoint ({now}) has another root than the one verified before at the "
                f"same size ({before}); the log key signed both",
            )  # fmt: skip
        return f"the same tree as the checkpoint verified before ({before})"
    if previous.size == 0:
        return f"extends the empty tree verified before ({before})"
    path = f"v1/proofs/consistency?from={previous.size}&to={current.size}"
    try:
        body = json.loads(_get(fetch, path))
        if body.get("from") != previous.size or body.get("to") != current.size:
            raise ValueError(f"it answers from {body.get('from')!r} to {body.get('to')!r}")
        proof = [base64.b64decode(h, validate=True) for h in body["proof"]]
    except LogMismatchError as exc:
        detail = f"no consistency proof from the checkpoint verified before ({exc.detail})"
        raise LogMismatchError(path, detail) from exc
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise LogMismatchError(path, f"the notary's answer is not a consistency proof ({exc})") from exc
    try:
        verify_consistency(previous.size, current.size, proof, previous.root, current.root, suite.tree)
    except VerificationError as exc:
        raise CheckpointConflictError(
            "inconsistent", previous, current, note,
            f"the log's checkpoint ({now}) is not consistent with the one verified before ({before}): {exc}",
        ) from exc  # fmt: skip
    return f"extends the checkpoint verified before ({before}): consistency proof of {len(proof)} hashes verified"


def _served_leaves(fetch: Fetch, index: int, width: int) -> list[bytes]:
    """The leaf hashes of level-0 tile ``index`` as served (hash only)."""
    path = tile_path(0, index, width)
    try:
        hashes = split_tile(_get(fetch, path))
    except MalformedError as exc:
        raise LogMismatchError(path, str(exc)) from exc
    if len(hashes) != width:
        raise LogMismatchError(path, f"holds {len(hashes)} hashes, the checkpoint's size needs {width}")
    return hashes


def _own_leaves(fetch: Fetch, events: Sequence[str], tree: TreeHash) -> dict[int, tuple[str, bytes]]:
    """Leaf index → (event id, leaf hash recomputed from its entry) of each of ``events``, read by id."""
    own: dict[int, tuple[str, bytes]] = {}
    for event_id in events:
        where = f"event {event_id!r}"
        try:
            body = json.loads(_get(fetch, "v1/entries/" + quote(event_id, safe="")))
            index = body["index"]
            entry = base64.b64decode(body["entry"], validate=True)
        except LogMismatchError as exc:
            raise LogMismatchError(
                where, f"{exc.detail}: not in the log, or not an event this credential's firm is a party to"
            ) from exc
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise LogMismatchError(where, f"the notary's answer is not an entry ({exc.__class__.__name__})") from exc
        try:
            parsed = parse_entry(entry)
        except MalformedError as exc:
            raise LogMismatchError(where, f"entry {index} is not a canonical valid event: {exc}") from exc
        if parsed.get("event_id") != event_id or not isinstance(index, int) or index < 0:
            raise LogMismatchError(where, f"the notary answered entry {index!r} of event {parsed.get('event_id')!r}")
        own[index] = (event_id, tree.leaf(entry))
    return own


def _check_own(mine: tuple[str, bytes], index: int, leaf: bytes) -> None:
    event_id, recomputed = mine
    if recomputed != leaf:
        raise LogMismatchError(
            f"event {event_id!r}",
            f"its entry's leaf hash is {recomputed.hex()}, leaf {index} of the log is {leaf.hex()}",
        )


def _bundle_leaves(fetch: Fetch, index: int, width: int, tree: TreeHash) -> list[bytes]:
    path = entries_path(index, width)
    try:
        entries = parse_entry_bundle(_get(fetch, path))
    except MalformedError as exc:
        raise LogMismatchError(path, str(exc)) from exc
    if len(entries) != width:
        raise LogMismatchError(path, f"holds {len(entries)} entries, the checkpoint's size needs {width}")
    leaves: list[bytes] = []
    for j, entry in enumerate(entries):
        try:
            parse_entry(entry)
        except MalformedError as exc:
            raise LogMismatchError(f"entry {index * TILE_WIDTH + j} ({path})", str(exc)) from exc
        leaves.append(tree.leaf(entry))
    return leaves


def _check_anchor(claim: AnchorClaim, root: bytes, note: bytes | None, suite: LogSuite) -> None:
    if claim.root != root:
        raise LogMismatchError(
            f"size {claim.size}",
            f"the chain anchors root {claim.root.hex()} (block {claim.block_number}), the log's root is {root.hex()}",
        )
    if note is not None and suite.digest(parse_note(note).text.encode()) != claim.checkpoint_digest:
        raise LogMismatchError(
            f"size {claim.size}",
            f"the anchored checkpoint digest is not {suite.digest_name} of the log's checkpoint body",
        )
