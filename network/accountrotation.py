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

Refused, before anything is written or sent: a member holding the VALIDATOR role (its accounts are the addresses
its node seals blocks with, so a change of them changes the validator set, and ``consortium.json`` names the
founding validators' for every verifier); the member that runs the notary (its account anchors the checkpoints, and
the verifiers check each anchor's sender against the account ``consortium.json`` names); a member that is not
active; an account of the directory that is not the member's on chain (neither the current nor a staged one).
No running process of such a member signs with its account (only its commands and its own code do), so there is no
overlap to wait for: a command run after step 5 signs with the new key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec

from chain.contracts.trust import KeyKind
from chain.ids import MemberStatus, OrgId, Role
from chain.tx import Signer
from network._pem import PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, OrgPaths, encrypt, eth_address, secp256k1_scalar
from network.description import ConsortiumDescription
from network.errors import NetworkError
from network.identity import IdentityError, load_account_key, load_account_key_file
from notary.durable import replace_file

if TYPE_CHECKING:
    from chain.contracts.registry import ConsortiumRegistryClient
    from chain.contracts.trust import TrustDirectoryClient

__all__ = ["AccountRotation", "AccountRotationError", "rotate_account", "staged_account_path"]


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


def rotate_account(
    directory: Path,
    description: ConsortiumDescription,
    passphrase: bytes,
    registry: ConsortiumRegistryClient,
    trust: TrustDirectoryClient | None,
    org: str,
) -> AccountRotation:
    """Rotate ``org``'s account key in ``directory`` (module docstring); :class:`AccountRotationError` before
    anything is written or sent when it cannot, or naming the step the chain refused."""
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
    if Role.VALIDATOR in member.roles:
        raise AccountRotationError(
            f"{org} holds the validator role: its accounts are the addresses its node seals blocks with, so changing "
            "them changes the validator set (a governance decision), and consortium.json names the founding "
            "validators' for every verifier; not rotated"
        )
    notary = next((m.org for m in description.members if Role.NOTARY in m.roles), None)
    if org == notary:
        raise AccountRotationError(
            f"{org} runs the notary: its account anchors the checkpoints and every verifier checks an anchor's sender "
            "against the account consortium.json names; not rotated"
        )
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
