"""The log follower: keeps the call index current from the notary's public read API, trusting none of it.

Each round reads ``/checkpoint`` (the published, cosigned checkpoint note), checks the log's signature with the
log's vkey and the origin (C2SP signed-note, tlog-checkpoint), then reads the missing entries from the C2SP
tlog-tiles entry bundles (``/tile/entries/<N>``: full bundles of 256, a partial one only at the checkpoint's
size) and indexes them only once they are proven to be the log's:

- the index keeps the compact range (RFC 9162 right edge) of the entries it holds, updated in the transaction
  that adds them; the follower extends it with the new entries' leaf hashes;
- a step that reaches the checkpoint's size must give exactly the checkpoint's root;
- a long catch-up goes in steps of 64 bundles, each proven against the same checkpoint: the compact range at
  the step's end, completed with the hashes of the complete subtrees right of it up to the checkpoint's size,
  read from the log's hash tiles (``/tile/<L>/<N>``, like an inclusion proof), must give the checkpoint's root.
  A tile cannot make wrong entries pass: the root is signed. The next step's bundles are read while one step
  is indexed.

A mismatch (a root, a signature, a malformed bundle) indexes nothing of the step, sets ``status["alarm"]``
naming the size and logs an error; the alarm stays set. Then the notary's checkpoints (``/v1/checkpoints``,
each note's signature checked; the recent ones are read again, since their anchors get confirmed later) and
gaps (``/v1/gaps``) are refreshed. Network failures are kept in ``status["last_error"]`` and retried with
exponential backoff; the thread never dies of them, and the notary may be down when it starts.
"""

from __future__ import annotations

import base64
import itertools
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from types import NoneType
from typing import Any, Final, TypedDict, cast

import httpx

from chain.tlsclient import tls_client
from explorer.calls import CallStore
from explorer.errors import LogAlarmError
from notary.log.checkpoint import Checkpoint, parse_checkpoint
from notary.log.compact import CompactRange
from notary.log.errors import MalformedError, NotaryError
from notary.log.note import open_note
from notary.log.tiles import TILE_WIDTH, TileNodeReader, entries_path, parse_entry_bundle, tile_path, tile_widths
from notary.logkeys import LogKeys
from notary.logsuite import LogVerifier, parse_log_vkey, suite_of_vkey
from notary.storage.base import AnchorJSON, CheckpointJSON

log = logging.getLogger(__name__)

#: Bundles read, proven and indexed together (16,384 entries).
STEP_BUNDLES = 64
MAX_BACKOFF = 30.0
#: Checkpoints published within this window (or with an anchor not yet confirmed) are read again each round.
RECHECK_MS = 60_000
CHECKPOINT_PAGE = 1000


def _now_ms() -> int:
    return int(time.time() * 1000)


def _right_nodes(start: int, size: int) -> list[tuple[int, int]]:
    """The complete subtrees ``(height, index)``, left to right, that cover leaves [start, size)."""
    nodes = []
    pos = start
    while pos < size:
        height = (pos & -pos).bit_length() - 1 if pos else size.bit_length()
        while 1 << height > size - pos:
            height -= 1
        nodes.append((height, pos >> height))
        pos += 1 << height
    return nodes


class LogFollowerStatus(TypedDict):
    """What :attr:`LogFollower.status` reports (the explorer's health relays it)."""

    last_error: str | None
    indexed_size: int
    checkpoint_size: int | None
    last_sync_ms: int | None
    alarm: str | None
    running: bool


class LogFollower:
    """A daemon thread that indexes the log of the notary at ``notary_url`` into ``index``; ``sync_once`` does
    one round in the caller's thread (see the module docstring). ``auth`` signs each request it makes itself
    (``notary.readauth.SignedReads``: the explorer is the trusted reader of entry bundles)."""

    def __init__(
        self,
        index: CallStore,
        notary_url: str,
        *,
        log_vkey: str,
        origin: str,
        poll: float = 0.5,
        client: httpx.Client | None = None,
        auth: httpx.Auth | None = None,
        tls: ssl.SSLContext | None = None,
        log_keys: Callable[[], LogKeys | None] | None = None,
    ) -> None:
        self.index = index
        self.log_keys = log_keys  # the log's keys on chain (docs/trust.md); None: ``log_vkey`` alone
        self.notary_url = notary_url.rstrip("/")
        self.verifier = parse_log_vkey(log_vkey)
        self.tree = suite_of_vkey(log_vkey).tree  # the log key's type pins the tree hash (SHA-256 or SM3)
        self.origin = origin
        self.poll = poll
        self._given_client = client
        self._auth = auth
        self._tls = tls
        self._client: httpx.Client | None = client
        self._pool: ThreadPoolExecutor | None = None
        self._sync_lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._status: LogFollowerStatus = {
            "last_error": None,
            "indexed_size": index.size(),
            "checkpoint_size": None,
            "last_sync_ms": None,
            "alarm": None,
            "running": False,
        }
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._round_alarm = False
        self._behind: tuple[int, int] | None = None

    # -- status and thread ------------------------------------------------------------------------------------

    @property
    def status(self) -> LogFollowerStatus:
        """``{last_error, indexed_size, checkpoint_size (of the last verified checkpoint), last_sync_ms (epoch
        ms of the last good round), alarm (a sentence naming the size, once the notary served data that does
        not check out), running}``: a copy, safe to read from any thread."""
        with self._status_lock:
            return self._status.copy()

    def _set(self, **values: Any) -> None:
        with self._status_lock:
            self._status.update(cast(LogFollowerStatus, values))  # keyword names of LogFollowerStatus

    def start(self) -> None:
        """Follow the log in a daemon thread until ``stop``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="log-follower", daemon=True)
        self._set(running=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current step; close the HTTP client if the follower made it (a later
        round makes a new one)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        self._set(running=False)
        with self._sync_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            if self._client is not None and self._given_client is None:
                self._client.close()
                self._client = None

    def _executor(self) -> ThreadPoolExecutor:
        """The thread that reads the next step's bundles while one step is indexed."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-follower-fetch")
        return self._pool

    def _http(self) -> httpx.Client:
        if self._client is None:
            verify: ssl.SSLContext | bool = self._tls if self._tls is not None else True
            self._client = tls_client(verify, timeout=httpx.Timeout(30.0, connect=5.0), auth=self._auth)
        return self._client

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    self.sync_once()
                except Exception:  # recorded in status by sync_once; retried with backoff
                    failures += 1
                else:
                    failures = failures + 1 if self._round_alarm else 0
                if failures:
                    self._stopping.wait(min(MAX_BACKOFF, self.poll * 2**failures))
                else:
                    self._stopping.wait(self.poll)
        finally:
            self._set(running=False)

    # -- one round --------------------------------------------------------------------------------------------

    def sync_once(self) -> int:
        """One round: verify the notary's checkpoint, index the entries up to its size once proven, refresh the
        checkpoints and gaps. Returns how many entries were added. A mismatch sets ``status["alarm"]`` and adds
        nothing; network and other failures are raised and recorded in ``status["last_error"]``."""
        with self._sync_lock:
            self._round_alarm = False
            if not self.index.lead():  # another explorer follows the log into the index they share
                self._set(last_error=None, indexed_size=self.index.size(), last_sync_ms=_now_ms())
                return 0
            size = self.index.size()
            try:
                try:
                    checkpoint = self._checkpoint()
                    if checkpoint is not None:
                        self._catch_up(checkpoint)
                    self._refresh_checkpoints()
                    self._refresh_gaps()
                except LogAlarmError as exc:
                    self._alarm(str(exc))
            except Exception as exc:
                message = f"{exc.__class__.__name__}: {exc}"
                if self.status["last_error"] != message:
                    log.warning("log follower: %s", message)
                self._set(last_error=message, indexed_size=self.index.size())
                raise
            indexed = self.index.size()
            self._set(last_error=None, indexed_size=indexed, last_sync_ms=_now_ms())
            return indexed - size

    def _alarm(self, message: str) -> None:
        self._round_alarm = True
        if self.status["alarm"] != message:
            log.error("log follower alarm: %s", message)
        self._set(alarm=message)

    def _get(self, path: str, params: Mapping[str, int] | None = None) -> httpx.Response:
        response = self._http().get(f"{self.notary_url}/{path}", params=params)
        if response.status_code != 404:
            response.raise_for_status()
        return response

    def _fetch(self, path: str) -> bytes:
        response = self._get(path)
        if response.status_code == 404:
            raise httpx.HTTPStatusError(f"{path}: 404 not found", request=response.request, response=response)
        return response.content

    def _checkpoint(self) -> Checkpoint | None:
        """The notary's published checkpoint, checked; None if it has published none yet."""
        response = self._get("checkpoint")
        if response.status_code == 404:
            return None
        try:
            note, _ = open_note(response.content, [self._verifier_of(response.content, None)])
            checkpoint = parse_checkpoint(note.text)
        except NotaryError as exc:
            raise LogAlarmError(f"the notary's checkpoint does not verify with the log key: {exc}") from exc
        if checkpoint.origin != self.origin:
            raise LogAlarmError(f"the notary's checkpoint is of log {checkpoint.origin!r}, not {self.origin!r}")
        self._set(checkpoint_size=checkpoint.size)
        return checkpoint

    def _catch_up(self, checkpoint: Checkpoint) -> None:
        """Index the entries from the index's size up to the checkpoint's, step by step, each step proven."""
        target, root = checkpoint.size, checkpoint.root
        crange = self.index.compact_range()
        size = crange.size
        if target < size:  # a stale copy (a cache), or a log that went back: nothing to index either way
            if self._behind != (target, size):
                log.warning("the notary's checkpoint (size %d) is behind the index (size %d)", target, size)
            self._behind = (target, size)
            return
        if target == size:
            if crange.root() != root:
                raise LogAlarmError(
                    f"size {target}: the checkpoint's root {root.hex()} is not the root of the indexed entries "
                    f"{crange.root().hex()}"
                )
            return
        tiles = TileNodeReader(self._tile_reader(target), cache_size=64, tree=self.tree)
        bounds = [size]
        aligned = size - size % TILE_WIDTH
        while bounds[-1] < target:
            aligned += STEP_BUNDLES * TILE_WIDTH
            bounds.append(min(aligned, target))
        steps = list(itertools.pairwise(bounds))
        pool = self._executor()
        pending: Future[list[bytes]] | None = pool.submit(self._entries, *steps[0], target)
        for n, (start, end) in enumerate(steps):
            assert pending is not None
            entries = pending.result()
            pending = pool.submit(self._entries, *steps[n + 1], target) if n + 1 < len(steps) else None
            try:
                trial = crange.copy()
                trial.extend(self.tree.leaf(e) for e in entries)
                calculated = trial.root() if end == target else self._root_through_tiles(trial, target, tiles)
                if calculated != root:
                    raise LogAlarmError(
                        f"size {target}: entries {start}..{end - 1} give the root {calculated.hex()}, the checkpoint "
                        f"holds {root.hex()}; nothing of them was indexed"
                    )
                try:
                    self.index.add_entries(start, entries)
                except NotaryError as exc:
                    raise LogAlarmError(
                        f"size {target}: {exc}; nothing of entries {start}..{end - 1} was indexed"
                    ) from exc
            except BaseException:
                if pending is not None:
                    pending.cancel()
                raise
            crange = trial
            self._set(indexed_size=end)
            if self._stopping.is_set() and threading.current_thread() is self._thread:
                if pending is not None:
                    pending.cancel()
                break

    def _entries(self, start: int, end: int, size: int) -> list[bytes]:
        """Entries [start, end) from the bundles of a tree of ``size`` leaves."""
        out: list[bytes] = []
        for n in range(start // TILE_WIDTH, (end - 1) // TILE_WIDTH + 1):
            width = min(TILE_WIDTH, size - n * TILE_WIDTH)
            path = entries_path(n, width)
            try:
                bundle = parse_entry_bundle(self._fetch(path))
            except NotaryError as exc:
                raise LogAlarmError(f"size {size}: {path}: {exc}") from exc
            if len(bundle) != width:
                raise LogAlarmError(f"size {size}: {path} holds {len(bundle)} entries, not {width}")
            first = n * TILE_WIDTH
            out.extend(bundle[max(start, first) - first : min(end, first + width) - first])
        return out

    def _tile_reader(self, size: int) -> Callable[[int, int], bytes]:
        def read_tile(level: int, index: int) -> bytes:
            full, partial = tile_widths(size, level)
            width = TILE_WIDTH if index < full else partial
            return self._fetch(tile_path(level, index, width))

        return read_tile

    @staticmethod
    def _root_through_tiles(crange: CompactRange, size: int, tiles: TileNodeReader) -> bytes:
        """The root at ``size`` from the compact range and the log's hashes of the subtrees right of it."""
        nodes = _right_nodes(crange.size, size)
        try:
            hashes = tiles.read_nodes(nodes)
        except NotaryError as exc:
            raise LogAlarmError(f"size {size}: the log's hash tiles are malformed: {exc}") from exc
        completed = crange.copy()
        for (height, _), node in zip(nodes, hashes, strict=True):
            completed.append_node(height, node)
        return completed.root()

    # -- checkpoints and gaps ---------------------------------------------------------------------------------

    def _recheck_from(self) -> int:
        """The size after which the notary's checkpoints are read again: the newest stored checkpoint whose
        anchor is confirmed, or that has no anchor pending and was published before the recheck window."""
        horizon = _now_ms() - RECHECK_MS
        before: int | None = None
        while True:
            page = self.index.checkpoints(before=before, limit=200)
            for cp in page:
                anchor = cp.get("anchor")
                state = anchor.get("state") if isinstance(anchor, dict) else None
                published = cp.get("published_ms")
                if state == "confirmed" or (state is None and isinstance(published, int) and published < horizon):
                    return int(cp["size"])
            if len(page) < 200:
                return 0
            before = int(page[-1]["size"])

    def _verifier_of(self, note: bytes, anchored_at: int | None) -> LogVerifier:
        """The log key ``note`` must verify under: ``log_vkey``'s, or for a log whose key rotated the key on chain
        the note names, valid at its anchor's block (the head when not anchored: the latest checkpoint), by the
        rule of ``notary.logkeys``; LogKeyError (a NotaryError) otherwise."""
        keys = None if self.log_keys is None else self.log_keys()
        return self.verifier if keys is None else keys.for_checkpoint(note, anchored_at).verifier

    def _listed_checkpoint(self, row: object) -> CheckpointJSON | None:
        """A row of ``/v1/checkpoints`` as :func:`listed_checkpoint` reads it, once its note verifies and says its
        size and root; None, with the alarm raised, when it does not."""
        size = row.get("size") if isinstance(row, dict) else None
        try:
            listed = listed_checkpoint(row)
            raw = listed["note"].encode()
            note, _ = open_note(raw, [self._verifier_of(raw, _anchor_block(listed))])
            checkpoint = parse_checkpoint(note.text)
            root = base64.b64decode(listed["root"], validate=True)
        except (NotaryError, ValueError) as exc:
            self._alarm(f"checkpoint {size} of /v1/checkpoints does not verify: {exc}")
            return None
        if checkpoint.origin != self.origin or (checkpoint.size, checkpoint.root) != (listed["size"], root):
            self._alarm(f"checkpoint {size} of /v1/checkpoints: its note says otherwise")
            return None
        return listed

    def _refresh_checkpoints(self) -> None:
        after = self._recheck_from()
        while True:
            body = self._get("v1/checkpoints", {"after": after, "limit": CHECKPOINT_PAGE}).json()
            rows = body.get("checkpoints") or []
            self.index.put_checkpoints([c for r in rows if (c := self._listed_checkpoint(r)) is not None])
            after_next = body.get("next")
            if not rows or after_next is None:
                return
            after = int(after_next)

    def _refresh_gaps(self) -> None:
        response = self._get("v1/gaps")
        if response.status_code == 200:
            self.index.put_gaps(list(response.json().get("gaps") or []))


def _anchor_block(row: CheckpointJSON) -> int | None:
    """The block the notary lists a checkpoint's confirmed anchor in (the explorer's chain follower checks the
    anchors against the chain itself); None when it lists none."""
    anchor = row["anchor"]
    return None if anchor is None or anchor["state"] != "confirmed" else anchor["block_number"]


#: The states an anchor is listed in (``notary.storage.base.AnchorState``).
ANCHOR_STATES: Final = ("sent", "confirmed", "failed")


def listed_checkpoint(row: object) -> CheckpointJSON:
    """One checkpoint of the notary's ``/v1/checkpoints`` list as :class:`~notary.storage.base.CheckpointJSON`,
    each field's JSON type checked, and its anchor's as :class:`~notary.storage.base.AnchorJSON` (any other key of
    the anchor kept: the explorer relays it); :class:`MalformedError` naming the first field that is wrong. Whether
    the note is the log's and says that size and root is the follower's check."""
    if not isinstance(row, dict):
        raise MalformedError(f"a listed checkpoint is a JSON object, not {type(row).__name__}")
    size, root, time_ms = _field(row, "size", (int,)), _field(row, "root", (str,)), _field(row, "time_ms", (int,))
    published_ms, cosigners = _field(row, "published_ms", (int, NoneType)), _field(row, "cosigners", (list,))
    if not all(isinstance(c, str) for c in cast(list[object], cosigners)):
        raise MalformedError("cosigners is not a list of names")
    note, anchor = _field(row, "note", (str,)), _field(row, "anchor", (dict, NoneType))
    return CheckpointJSON(
        size=cast(int, size),
        root=cast(str, root),
        time_ms=cast(int, time_ms),
        published_ms=cast(int | None, published_ms),
        cosigners=cast(list[str], cosigners),
        note=cast(str, note),
        anchor=None if anchor is None else _listed_anchor(cast(dict[str, object], anchor)),
    )


#: The fields of a listed anchor (``AnchorJSON``) and the types each may have.
_ANCHOR_FIELDS: Final[tuple[tuple[str, tuple[type, ...]], ...]] = (
    ("size", (int,)), ("tx_hash", (str,)), ("nonce", (int,)), ("state", (str,)), ("sent_ms", (int,)),
    ("block_number", (int, NoneType)), ("block_hash", (str, NoneType)), ("confirmed_ms", (int, NoneType)),
)  # fmt: skip


def _listed_anchor(anchor: dict[str, object]) -> AnchorJSON:
    for key, types in _ANCHOR_FIELDS:
        _field(anchor, key, types, "anchor.")
        if key == "state" and anchor[key] not in ANCHOR_STATES:
            raise MalformedError(f"anchor.state is {anchor[key]!r}, not one of {', '.join(ANCHOR_STATES)}")
    return cast(AnchorJSON, anchor)  # its fields checked above; it is relayed as it came


def _field(obj: Mapping[str, object], key: str, types: tuple[type, ...], where: str = "") -> object:
    """``obj[key]``, of one of ``types`` (exactly: a JSON true is no integer); MalformedError naming ``where`` and
    ``key`` otherwise."""
    if key not in obj:
        raise MalformedError(f"no {where}{key}")
    value = obj[key]
    if type(value) not in types:
        expected = " or ".join("null" if t is NoneType else _JSON_NAMES[t] for t in types)
        raise MalformedError(f"{where}{key} is {_JSON_NAMES.get(type(value), type(value).__name__)}, not {expected}")
    return value


#: A JSON value's kind as a message names it, by its Python type.
_JSON_NAMES: Final[dict[type, str]] = {
    int: "an integer", str: "a string", list: "a list", dict: "an object", bool: "a boolean", float: "a number",
    NoneType: "null",
}  # fmt: skip
