"""Rotating a key file whose public key is on chain in the TrustDirectory (``docs/trust.md``), with an overlap
during which both keys are valid: the steps ``consortium notary rotate-key`` (the log's key,
``network.logrotation``) and ``consortium gateway rotate-key`` (a gateway key, ``network.gatewaykeys``) share.

1. the new key is made (of the consortium's suite) and written, encrypted, beside the current one
   (``<name>.next.pem``, atomically, mode 0600), so a failure later leaves it to be used or removed;
2. it is added on chain as a key of ``kind`` of the org, valid from ``from_block`` (default: the block that
   records it);
3. the current key's record is retired ``overlap_blocks`` blocks after the new key becomes valid: until then both
   are valid;
4. the new key replaces the key file (atomically, 0600) and its ``.pub`` beside it. The old private key is not
   kept: what it signed is checked with its public key, which stays on chain.

:class:`ChainKeyFile` is the running service's side: the key file read again whenever it changes, handed over
once the chain says its key is valid (:class:`KeyFileReader`, without the chain, for a holder that has no view of
it).
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

    @classmethod
    def of_log(cls, directory: Path, org: str) -> KeyFile:
        """The log's key of the notary's member ``org`` (``orgs/ORG/keys/notary.pem``)."""
        paths = OrgPaths.of(directory, OrgId(org))
        return cls(org, KeyKind.LOG_KEY, paths.notary_key, paths.notary_pub)

    @classmethod
    def of_gateway(cls, directory: Path, org: str) -> KeyFile:
        """``org``'s gateway key (``orgs/ORG/keys/gateway.pem``)."""
        paths = OrgPaths.of(directory, OrgId(org))
        return cls(org, KeyKind.GATEWAY_KEY, paths.gateway_key, paths.gateway_pub)

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
    replace_file(key_file.path, key_file.staged.read_bytes(), KEY_MODE)
    key_file.staged.unlink()
    replace_file(key_file.public_path, f"{new_public.hex()}\n".encode("ascii"), PUBLIC_MODE)
    return KeyRotation(org, open_records[0].index, new_index, old_public, new_public, valid_from, until)


class KeyFileReader:
    """The key of ``key_file``, the file read again (with ``load``) whenever it changes. Called, it hands the key
    over with no look at the chain: for a holder with no view of it (the SDK), whose reads fall back to the key
    before while the notary refuses the new one (``notary.readauth.SignedReads``)."""

    def __init__(self, key_file: KeyFile, load: Callable[[], PrivateKey]) -> None:
        self._file = key_file
        self._load = load
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

    def __call__(self) -> PrivateKey | None:
        return self.read()[0]


class ChainKeyFile(KeyFileReader):
    """The key of ``key_file`` once the chain says it is valid: the file read again (with ``load``) whenever it
    changes, its key handed over while it is a key of its kind of its org valid at the head ``view`` last read,
    None otherwise (a key file rewritten by a rotation whose new key is not valid yet)."""

    def __init__(self, view: TrustView, key_file: KeyFile, load: Callable[[], PrivateKey]) -> None:
        super().__init__(key_file, load)
        self._view = view

    def __call__(self) -> PrivateKey | None:
        key, public = self.read()
        if self._view.was_valid(self._file.org, self._file.kind, public, self._view.head):
            return key
        return None
