"""Rotating a key file whose public key is on chain in the TrustDirectory (``docs/trust.md``), with an overlap
during which both keys are valid: the steps ``consortium notary rotate-key`` (the log's key,
``network.logrotation``) and ``consortium gateway rotate-key`` (a gateway key, ``network.gatewaykeys``) share.

1. the new key is made (of the consortium's suite) and written, encrypted, beside the current one
   (``<name>.next.pem``, atomically, mode 0600), so a failure later leaves it to be used or removed;
2. it is added on chain as a key of ``kind`` of the org, valid from ``from_block`` (default: the block that
   records it);
3. the current key's record is retired ``overlap_blocks`` blocks after the new key becomes valid: until then both
   are valid;
4. the new key replaces the key file (atomically, 0600) and its ``.pub`` beside it. A key file with a place for
   the key before (``KeyFile.previous``: a gateway key's, ``<name>.previous.pem``) keeps the old key there first
   (atomically, 0600, over the one an earlier rotation kept), so that a holder starting before the new key's block
   has a key the chain holds valid; it is removed by the first follower that sees its key retired
   (:class:`ChainKeyFile`), else overwritten by the next rotation. Otherwise (the log's key) the old private key
   is not kept: what it signed is checked with its public key, which stays on chain.

:class:`ChainKeyFile` is the running service's side: the key file read again whenever it changes, handed over
once the chain says its key is valid (:class:`KeyFileReader`, without the chain, for a holder that has no view of
it). Both start from the key kept before a rotation while there is one (:meth:`KeyFileReader.start`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chain.contracts.trust import KeyKind
from chain.ids import OrgId
from network.errors import NetworkError
from network.identity import OrgPaths, encrypted_log_key, new_log_key
from notary.durable import replace_file
from notary.log.note import key_id
from notary.logsuite import PrivateKey, public_bytes

if TYPE_CHECKING:
    from chain.contracts.trust import TrustDirectoryClient
    from chain.trustview import TrustView
    from chain.tx import Signer

log = logging.getLogger("network.keyrotation")

KEY_MODE = 0o600
PUBLIC_MODE = 0o644

#: The blocks both keys are valid for by default (``consortium notary rotate-key`` and ``consortium gateway
#: rotate-key``), far within either holder's switch on a chain making a block a second or slower: the notary
#: follows the chain each second and anchors every ten seconds by default (the log's key); a gateway follows the
#: chain every 0.1 s by default and its shipper sends a batch within seconds (a gateway key).
DEFAULT_OVERLAP_BLOCKS = 100


class KeyRotationError(NetworkError):
    """A key cannot be rotated as asked (no directory, a key not on chain, a block in the past)."""


@dataclass(frozen=True, slots=True)
class KeyRotation:
    org: str
    old_index: int
    new_index: int
    old_public: bytes
    new_public: bytes
    valid_from: int  # the first block of the new key
    old_valid_until: int  # the first block at which the old key no longer counts

    def key_ids(self, origin: str, key_type: int) -> tuple[str, str]:
        return key_id(origin, key_type, self.old_public).hex(), key_id(origin, key_type, self.new_public).hex()


@dataclass(frozen=True, slots=True)
class KeyFile:
    """A key of ``kind`` of ``org`` kept encrypted in ``path`` (``name.pem``), its public key in hex in
    ``public_path``."""

    org: str
    kind: KeyKind
    path: Path
    public_path: Path
    previous: Path | None = None  # where a rotation keeps the key before until it is retired; None: not kept

    @classmethod
    def of_log(cls, directory: Path, org: str) -> KeyFile:
        """The log's key of the notary's member ``org`` (``orgs/ORG/keys/notary.pem``)."""
        paths = OrgPaths.of(directory, OrgId(org))
        return cls(org, KeyKind.LOG_KEY, paths.notary_key, paths.notary_pub)

    @classmethod
    def of_gateway(cls, directory: Path, org: str) -> KeyFile:
        """``org``'s gateway key (``orgs/ORG/keys/gateway.pem``)."""
        paths = OrgPaths.of(directory, OrgId(org))
        return cls(org, KeyKind.GATEWAY_KEY, paths.gateway_key, paths.gateway_pub, paths.gateway_key_previous)

    @property
    def staged(self) -> Path:
        return self.path.with_name(self.path.stem + ".next.pem")


def rotate_key_file(
    key_file: KeyFile,
    current: PrivateKey,
    crypto: str,
    passphrase: bytes,
    trust: TrustDirectoryClient,
    signer: Signer,
    *,
    from_block: int | None,
    overlap_blocks: int,
    error: type[KeyRotationError] = KeyRotationError,
) -> KeyRotation:
    """Rotate ``key_file``, whose key now is ``current`` (above), ``signer`` an account of its org. Raises
    ``error`` before anything is written or sent when it cannot."""
    if overlap_blocks < 1:
        raise error("the overlap must be at least one block (both keys valid while the holder switches)")
    org, kind = key_file.org, key_file.kind
    old_public = public_bytes(current)
    head = int(trust.backend.web3.eth.block_number)
    if from_block is not None and from_block < head:
        raise error(f"--from-block {from_block} is in the past (the chain is at block {head})")
    open_records = [
        r
        for r in trust.records(org)
        if r.kind is kind and r.value == old_public and r.valid_until is None and r.valid_at(head)
    ]
    if not open_records:
        raise error(
            f"the key in {key_file.path} is no open {kind.name} of {org} valid now on chain: nothing to rotate "
            "from (`consortium member keys list` shows its records)"
        )
    new_key = new_log_key(crypto)
    new_public = public_bytes(new_key)
    replace_file(key_file.staged, encrypted_log_key(new_key, passphrase), KEY_MODE)
    new_index = trust.add_key(signer, kind, new_public, from_block)
    record = trust.record(org, new_index)
    valid_from = record.valid_from if record is not None else (from_block or head)
    until = valid_from + overlap_blocks
    trust.retire_key(signer, open_records[0].index, until)
    if key_file.previous is not None:  # kept, still valid on chain until `until`, before the file changes
        replace_file(key_file.previous, encrypted_log_key(current, passphrase), KEY_MODE)
    replace_file(key_file.path, key_file.staged.read_bytes(), KEY_MODE)
    key_file.staged.unlink()
    replace_file(key_file.public_path, f"{new_public.hex()}\n".encode("ascii"), PUBLIC_MODE)
    return KeyRotation(org, open_records[0].index, new_index, old_public, new_public, valid_from, until)


class KeyFileReader:
    """The key of ``key_file``, the file read again (with ``load``) whenever it changes. Called, it hands the key
    over with no look at the chain: for a holder with no view of it (the SDK), whose reads fall back to the key
    before while the notary refuses the new one (``notary.readauth.SignedReads``). ``load_previous`` reads the key
    a rotation kept in ``key_file.previous`` (None when the file is absent)."""

    def __init__(
        self,
        key_file: KeyFile,
        load: Callable[[], PrivateKey],
        load_previous: Callable[[], PrivateKey | None] | None = None,
    ) -> None:
        self._file = key_file
        self._load = load
        self._load_previous = load_previous
        self._stamp: tuple[int, int, int] | None = None
        self._key: PrivateKey | None = None
        self._public = b""

    def read(self) -> tuple[PrivateKey, bytes]:
        """The key in the file now and its public key (read again only if the file changed)."""
        stat = self._file.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp != self._stamp or self._key is None:
            key = self._load()
            self._key, self._public, self._stamp = key, public_bytes(key), stamp
        return self._key, self._public

    def previous(self) -> PrivateKey | None:
        """The key a rotation kept before the current one, while its file is there; None otherwise, and when it
        cannot be read (logged: the current key serves then)."""
        if self._load_previous is None:
            return None
        try:
            return self._load_previous()
        except Exception as exc:  # a damaged or foreign file: not a reason to stop a holder starting
            log.warning("the key kept before the rotation of %s cannot be read, starting from the current one: "
                        "%s: %s", self._file.path, type(exc).__name__, exc)  # fmt: skip
            return None

    def start(self) -> PrivateKey:
        """The key a holder starting now signs with first: the key kept before a rotation while there is one (it is
        valid on chain until the new key has been valid for the overlap, which the holder switches within: it is
        given the file's key as its next key), else the file's key."""
        previous = self.previous()
        return previous if previous is not None else self.read()[0]

    def __call__(self) -> PrivateKey | None:
        return self.read()[0]


class ChainKeyFile(KeyFileReader):
    """The key of ``key_file`` once the chain says it is valid: the file read again (with ``load``) whenever it
    changes, its key handed over while it is a key of its kind of its org valid at the head ``view`` last read,
    None otherwise (a key file rewritten by a rotation whose new key is not valid yet). Each time it is asked, the
    key kept before a rotation (``key_file.previous``) is removed once ``view`` says its record ended, retired or
    declared compromised, by the head: no holder can use it any more."""

    def __init__(
        self,
        view: TrustView,
        key_file: KeyFile,
        load: Callable[[], PrivateKey],
        load_previous: Callable[[], PrivateKey | None] | None = None,
    ) -> None:
        super().__init__(key_file, load, load_previous)
        self._view = view
        self._kept: tuple[tuple[int, int, int], bytes] | None = None  # the kept file's stamp and public key

    def __call__(self) -> PrivateKey | None:
        key, public = self.read()
        self._remove_ended_previous()
        if self._view.was_valid(self._file.org, self._file.kind, public, self._view.head):
            return key
        return None

    def _remove_ended_previous(self) -> None:
        path, snapshot = self._file.previous, self._view.snapshot
        if path is None or self._load_previous is None or snapshot is None:
            return
        try:
            stat = path.stat()
        except FileNotFoundError:
            return
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._kept is None or self._kept[0] != stamp:
            kept = self.previous()  # one that cannot be read is said once per version of the file
            self._kept = (stamp, b"" if kept is None else public_bytes(kept))
        if not self._kept[1]:
            return
        record = snapshot.find(self._file.org, self._file.kind, self._kept[1])
        head = self._view.head
        if record is not None and record.valid_until is not None and record.valid_until <= head:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:  # left for the next rotation to overwrite; the current key serves meanwhile
                log.warning("cannot remove %s, whose key ended on chain: %s", path, exc)
                return
            log.info("removed %s: its key's record %d of %s ended at block %d (the chain is at %d)",
                     path, record.index, self._file.org, record.valid_until, head)  # fmt: skip
