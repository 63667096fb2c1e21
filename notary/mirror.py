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

Every hash is the one of the log's suite, which the log key of the trust roots pins (SHA-256 for ``intl``, SM3 for
``sm``: ``notary.logsuite``). Memory stays flat: one tile per level and a compact range of O(log n) hashes. The
first inconsistency raises ``LogMismatchError`` naming where (the tile or entry path, the index, the size).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from notary.event import parse_entry
from notary.log.checkpoint import Checkpoint, parse_checkpoint
from notary.log.compact import CompactRange
from notary.log.errors import MalformedError, NotaryError, VerificationError
from notary.log.hashing import TreeHash
from notary.log.note import open_note, parse_note
from notary.log.tiles import TILE_HEIGHT, TILE_WIDTH, entries_path, parse_entry_bundle, split_tile, tile_path
from notary.logsuite import LogSuite
from notary.verify import TrustRoots, check_cosignatures

#: ``fetch(path)`` returns the bytes the log serves at ``path`` (``checkpoint``, ``tile/0/000``, ...), raising
#: a NotaryError (NotFoundError for a 404) when it cannot.
Fetch = Callable[[str], bytes]


class LogMismatchError(VerificationError):
    """The log's published data disagrees with itself, its keys or the chain; ``where`` names the place."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail


@dataclass(frozen=True, slots=True)
class AnchorClaim:
    """What the chain holds for one anchored size of the log (AuditAnchor ``at_size``)."""

    size: int
    root: bytes
    checkpoint_digest: bytes
    block_number: int = 0


@dataclass(slots=True)
class MirrorReport:
    origin: str
    size: int
    root: bytes
    cosigners: str
    tiles: int = 0
    anchors_checked: list[int] = field(default_factory=list)


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
    try:
        return fetch(path)
    except NotaryError as exc:
        raise LogMismatchError(path, f"not served ({exc})") from exc


def verify_checkpoint_note(note: bytes, roots: TrustRoots) -> tuple[Checkpoint, str]:
    """The checkpoint in a cosigned note, checked against the log key, origin, witnesses and policy; and who
    cosigned it. Raises LogMismatchError("checkpoint", why)."""
    try:
        opened, _ = open_note(note, [roots.log])
        checkpoint = parse_checkpoint(opened.text)
        if checkpoint.origin != roots.origin:
            raise LogMismatchError("checkpoint", f"origin {checkpoint.origin!r}, the log's is {roots.origin!r}")
        cosigners = check_cosignatures(opened, roots.witnesses, roots.policy)
    except LogMismatchError:
        raise
    except NotaryError as exc:
        raise LogMismatchError("checkpoint", str(exc)) from exc
    return checkpoint, cosigners


def mirror_log(
    fetch: Fetch,
    roots: TrustRoots,
    anchors: Sequence[AnchorClaim] = (),
    progress: Callable[[int], None] | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
) -> MirrorReport:
    """Mirror and check the whole log (see the module docstring); raises LogMismatchError at the first problem.

    ``progress(n)`` is called with the number of entries each bundle added; ``on_checkpoint`` once the
    checkpoint is verified (to size a progress bar)."""
    note = _get(fetch, "checkpoint")
    checkpoint, cosigners = verify_checkpoint_note(note, roots)
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
    report = MirrorReport(checkpoint.origin, size, checkpoint.root, cosigners)
    suite = roots.suite
    compact = CompactRange(tree=suite.tree)
    tiles = _TileChecker(fetch, suite.tree)
    for bundle_index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        first = bundle_index * TILE_WIDTH
        width = min(TILE_WIDTH, size - first)
        for leaf in _bundle_leaves(fetch, bundle_index, width, suite.tree):
            compact.append(leaf)
            tiles.add(0, leaf)
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
        raise LogMismatchError(
            f"size {size}",
            f"the entries give root {calculated.hex()}, the checkpoint holds {checkpoint.root.hex()}",
        )
    return report


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
