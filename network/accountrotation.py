"""Rotating a member's account key (``consortium identity rotate-account``): the secp256k1 key whose account signs
the member's transactions (votes, grants, assets, its key records), replaced by a new one with the chain's own
record of who the member's accounts are (``docs/trust.md``, "Rotating an account key").

The steps, each done only if the chain does not show it done already, so that a run stopped anywhere (a crash, a
node that stops answering) is finished by running the command again:

1. a new key is made and staged, encrypted, as ``keys/account.next.pem`` (atomically, 0600); a staged key left by
   an earlier run is used instead;
2. the current account adds the new one to the member in the ConsortiumRegistry (``add_account``): from that
   block both accounts are the member's, and the nodes take transactions of either;
3. the new account adds itself as an ACCOUNT key record of the member in the TrustDirectory and retires the old
   account's records there (from that block);
4. the new account removes the old one from the member (``remove_account``): from that block the nodes refuse the
   old account's transactions and the contracts its calls;
5. ``keys/account.pem`` and ``keys/account.address`` are replaced by the new key and address (atomically), and the
   staged file removed.

A validator's first account is the address its node seals with, so step 4 changes the validator set: from the
block after the removal the set names the new account, and the member's node, which reads both key files at the
start of each height whose set does not name the key it seals with (:class:`AccountKeyFiles`,
``chain.node.consensus``), seals and votes with the new key from that height, with no restart and no height
missed. The verifiers follow the set from the founding validators header by header (``chain.lightclient``,
``network.witnesskeys.prove_anchor_block``), so ``consortium.json`` keeps naming the founders' first accounts.

The member that runs the notary: its notary anchors the checkpoints from its account. The anchorer asks before each
anchor which account to send from (:class:`MemberAccountKey`): the staged key once the registry lists it (after
step 2), so the anchors move to the new account before the old one is removed; an anchor still in flight from the
old account when step 4 lands reverts and a newer checkpoint is anchored from the new one. The verifiers take an
anchor from any account the registry listed for the notary's member at the anchor's parent block, proven against
its state root (``network.witnesskeys.prove_anchor_block``), besides the account ``consortium.json`` names; offline
(``verify evidence --offline``) only that one.

Refused, before anything is written or sent: a member that is not active; an account of the directory that is not
the member's on chain (neither the current nor a staged one). No other running process of a member signs with its
account (only its commands and its own code do), so there is no overlap to wait for: a command run after step 5
signs with the new key.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec

from chain.contracts.trust import KeyKind
from chain.ids import MemberStatus, OrgId
from chain.tx import Signer
from network._pem import PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, OrgPaths, encrypt, eth_address, secp256k1_scalar
from network.errors import NetworkError
from network.identity import IdentityError, load_account_key, load_account_key_file
from notary.durable import replace_file

if TYPE_CHECKING:
    from chain.backend import Backend
    from chain.contracts.registry import ConsortiumRegistryClient
    from chain.contracts.trust import TrustDirectoryClient

__all__ = [
    "AccountKeyFiles",
    "AccountRotation",
    "AccountRotationError",
    "MemberAccountKey",
    "rotate_account",
    "staged_account_path",
]

log = logging.getLogger("network.accountrotation")


class AccountRotationError(NetworkError):
    """An account cannot be rotated as asked (nothing was written or sent), or a step was refused."""


@dataclass(frozen=True, slots=True)
class AccountRotation:
    """What a rotation did: the accounts, and the steps it found done already (a run that finished an earlier
    one's) or did now."""

    org: str
    old: str
    new: str
    done: tuple[str, ...]  # the steps this run took, by name
    found: tuple[str, ...]  # the steps an earlier run had taken

    def to_json(self) -> dict[str, object]:
        return {"org": self.org, "old": self.old, "new": self.new, "done": list(self.done), "found": list(self.found)}


def staged_account_path(directory: Path, org: str) -> Path:
    """Where a rotation stages the new account key until it is the member's alone."""
    return OrgPaths.of(directory, OrgId(org)).account_key.with_name("account.next.pem")


class AccountKeyFiles:
    """The account keys ``org``'s directory holds now: ``keys/account.pem`` and, during a rotation, the staged
    ``keys/account.next.pem``, each read again only when its file changed (its time, size and inode), for the
    member's node to seal with the one the validator set names (``chain.node.consensus.Consensus._follow_key``). A
    file that cannot be read or opened counts for nothing until it changes (said once in the log)."""

    def __init__(self, directory: Path, org: str, passphrase: bytes) -> None:
        self._paths = (OrgPaths.of(directory, OrgId(org)).account_key, staged_account_path(directory, org))
        self._passphrase = passphrase
        self._read: dict[Path, tuple[tuple[int, int, int], bytes | None]] = {}
        self._lock = threading.Lock()

    def __call__(self) -> tuple[bytes, ...]:
        keys = []
        with self._lock:
            for path in self._paths:
                try:
                    stat = path.stat()
                except OSError:
                    self._read.pop(path, None)
                    continue
                stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
                kept = self._read.get(path)
                if kept is None or kept[0] != stamp:
                    try:
                        kept = (stamp, load_account_key_file(path, self._passphrase))
                    except IdentityError as exc:
                        log.warning("the account key %s cannot be used: %s", path, exc)
                        kept = (stamp, None)
                    self._read[path] = kept
                if kept[1] is not None:
                    keys.append(kept[1])
        return tuple(keys)


class MemberAccountKey:
    """The account key ``org``'s process sends from now (the notary's anchorer, ``notary.anchor.Anchorer``): of the
    keys :class:`AccountKeyFiles` reads, the last whose account the registry at ``registry`` lists as ``org``'s, so
    a rotation's staged key from the block that added it (the old account then has nothing in flight when it is
    removed); else the key file's. The registry is asked only while the directory holds two keys."""

    def __init__(self, directory: Path, org: str, passphrase: bytes, registry: str) -> None:
        self._files = AccountKeyFiles(directory, org, passphrase)
        self._org = org
        self._registry = registry

    def __call__(self, backend: Backend) -> bytes | None:
        from chain.contracts.registry import ConsortiumRegistryClient

        keys = self._files()
        if len(keys) < 2:
            return keys[0] if keys else None
        registry = ConsortiumRegistryClient(backend, self._registry)
        listed = [key for key in keys if registry.org_of(eth_address(key)) == self._org]
        return listed[-1] if listed else keys[0]


def rotate_account(
    directory: Path,
    passphrase: bytes,
    registry: ConsortiumRegistryClient,
    trust: TrustDirectoryClient | None,
    org: str,
    stage_only: bool = False,
) -> AccountRotation:
    """Rotate ``org``'s account key in ``directory`` (module docstring); :class:`AccountRotationError` before
    anything is written or sent when it cannot, or naming the step the chain refused. ``stage_only``: step 1 alone
    (the new account's address to hand to a regulator revoking the current one as compromised, which makes the new
    one the member's in the same block; the next full run then finishes)."""
    paths = OrgPaths.of(directory, OrgId(org))
    try:
        current = Signer.from_key(load_account_key(directory, OrgId(org), passphrase))
    except IdentityError as exc:
        raise AccountRotationError(f"the account key of {org} cannot be used: {exc}") from None
    staged_path = staged_account_path(directory, org)
    staged = _staged(staged_path, passphrase)
    if staged is not None and eth_address(staged) == current.address:
        # stopped between installing the key file and removing the staged one: the rest was done
        _install(paths, staged_path, staged)
        earlier = ("staged", "added", "recorded", "retired", "removed")
        return AccountRotation(org, current.address, current.address, ("installed",), earlier)
    member = registry.member(org)
    if member is None:
        raise AccountRotationError(f"{org!r} is not a member on chain")
    if member.status is not MemberStatus.ACTIVE:
        raise AccountRotationError(f"{org} is {member.status.name.lower()} on chain: only an active member rotates")
    owner = registry.org_of(current.address)
    new = Signer.from_key(staged) if staged is not None else None
    if owner != org and (new is None or registry.org_of(new.address) != org):
        whose = "no member's" if owner is None else f"{owner}'s"
        raise AccountRotationError(
            f"the account {current.address} of {paths.account_key} is {whose} on chain, not {org}'s, and no staged "
            f"account of {org} is either: nothing rotated"
        )
    done: list[str] = []
    found: list[str] = []
    if staged is None:
        key = ec.generate_private_key(ec.SECP256K1())
        replace_file(staged_path, encrypt(key, passphrase), PRIVATE_FILE_MODE)
        staged = secp256k1_scalar(key)
        done.append("staged")
    else:
        found.append("staged")
    new = Signer.from_key(staged)
    if stage_only:
        return AccountRotation(org, current.address, new.address, tuple(done), tuple(found))
    old_registered = owner == org
    try:
        if registry.org_of(new.address) == org:
            found.append("added")
        else:
            registry.add_account(current, new.address)
            done.append("added")
        if trust is not None:
            _records(trust, org, new, current.address, done, found)
        if old_registered:
            registry.remove_account(new, current.address)
            done.append("removed")
        else:
            found.append("removed")
    except Exception as exc:  # the chain's refusal or its absence: the staged key is kept for the next run
        raise AccountRotationError(
            f"the rotation of {org}'s account stopped ({type(exc).__name__}: {exc}); {staged_path} keeps the new "
            "key: run the command again to finish it"
        ) from exc
    _install(paths, staged_path, staged)
    done.append("installed")
    return AccountRotation(org, current.address, new.address, tuple(done), tuple(found))


def _install(paths: OrgPaths, staged_path: Path, staged: bytes) -> None:
    """The staged key becomes the member's key file (its address beside it), then the staged file goes."""
    replace_file(paths.account_key, staged_path.read_bytes(), PRIVATE_FILE_MODE)
    replace_file(paths.account_address, f"{eth_address(staged)}\n".encode("ascii"), PUBLIC_FILE_MODE)
    staged_path.unlink()


def _records(trust: TrustDirectoryClient, org: str, new: Signer, old: str, done: list[str], found: list[str]) -> None:
    """The new account recorded as the member's ACCOUNT key, the old one's records retired, by the new account."""
    records = trust.records(org)
    new_value, old_value = bytes.fromhex(new.address[2:]), bytes.fromhex(old[2:])
    if any(r.kind is KeyKind.ACCOUNT and r.value == new_value and r.valid_until is None for r in records):
        found.append("recorded")
    else:
        trust.add_key(new, KeyKind.ACCOUNT, new_value)
        done.append("recorded")
    live = [r for r in records if r.kind is KeyKind.ACCOUNT and r.value == old_value and r.valid_until is None]
    for record in live:
        trust.retire_key(new, record.index)
    (done if live else found).append("retired")


def _staged(path: Path, passphrase: bytes) -> bytes | None:
    """The staged account key's scalar, if an earlier run left one."""
    if not path.is_file():
        return None
    try:
        return load_account_key_file(path, passphrase)
    except IdentityError as exc:
        raise AccountRotationError(f"the staged account key cannot be used: {exc}") from None
