"""Where a consortium directory keeps salt vaults and the shred statements its members publish.

A provider's salt vault (``notary.submit.vault``) stays in the data directory of what records its events:

    gateways/<org>/vault/          the vault of every gateway of <org> run from this directory
    explorer/vault/                the explorer's vault of its own audit events (provider: the operator)
    alarms/vault/                  the vault of the alarm records ``consortium up`` makes (provider: the operator)

When a provider shreds a day (``consortium data shred``) it publishes a *shred statement*, the vault's tombstone
signed with its gateway key, beside its other public files, as it publishes its CRL:

    orgs/<org>/shreds/<YYYY-MM-DD>.json

A statement is checked against the org's gateway keys on chain (the TrustDirectory's GATEWAY_KEY records), the key
valid at the statement's time, so a gateway key rotated (``consortium gateway rotate-key``) signs statements from
then on; offline, against the org's gateway key in ``consortium.json``. The explorer reads them
(:class:`ShredBook`) to show the calls of a shredded day as shredded. The time is the statement's own: a key
retired or declared compromised can still sign a statement that claims a time from before its end. A statement is
a claim by the provider about its own keys: the explorer cannot see whether a key is really gone, only that its
owner says so and signed it. Nothing in the log or on chain changes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from chain.contracts.trust import KeyKind
from network._pem import PUBLIC_FILE_MODE
from network.description import ConsortiumDescription
from notary.durable import replace_file
from notary.log.errors import MalformedError
from notary.submit.vault import SaltVault, Tombstone, check_day

if TYPE_CHECKING:
    from chain.trustview import TrustSnapshot, TrustView

log = logging.getLogger("network.shredding")

STATEMENTS_DIR: Final = "shreds"
#: How often the explorer looks for new statements, at most.
RESCAN_S: Final = 2.0


def gateway_vault(directory: Path, org: str) -> Path:
    """The salt vault of ``org``'s gateways in a consortium directory."""
    return Path(directory) / "gateways" / org / "vault"


def explorer_vault(directory: Path) -> Path:
    """The salt vault of the explorer's own audit events (the operator's)."""
    return Path(directory) / "explorer" / "vault"


def alarms_vault(directory: Path) -> Path:
    """The salt vault of the alarm records (``network.alarms.audit``; the operator's)."""
    return Path(directory) / "alarms" / "vault"


def vaults_of(directory: Path, org: str) -> list[Path]:
    """Every vault of ``org`` in a consortium directory: its gateways', and the explorer's and the alarm
    records' if ``org`` is the operator whose events they record."""
    found = [gateway_vault(directory, org), explorer_vault(directory), alarms_vault(directory)]
    return [p for p in found if SaltVault.provider_of(p) == org]


def statement_path(directory: Path, org: str, day: str) -> Path:
    return Path(directory) / "orgs" / org / STATEMENTS_DIR / f"{check_day(day)}.json"


def publish(directory: Path, statement: dict[str, Any]) -> Path:
    """Write a signed shred statement where the members read it (atomically); its path."""
    path = statement_path(directory, str(statement["provider"]), str(statement["day"]))
    replace_file(path, (json.dumps(statement, indent=1) + "\n").encode(), PUBLIC_FILE_MODE)
    return path


def load_statements(
    directory: Path, description: ConsortiumDescription, trust: TrustView | None = None
) -> dict[tuple[str, str], Tombstone]:
    """Every published shred statement signed by its org's gateway key, by (provider, day). Others are left out
    with a warning.

    With ``trust`` (the TrustDirectory followed) once it has read the chain: the key must be a GATEWAY_KEY of the
    org on chain valid at the statement's time (the block :meth:`~chain.trustview.TrustView.block_at_time` gives for
    its ``shredded_ms``), so a statement signed after a rotation with the new key counts, one signed with a key
    after its retirement or declared compromise does not, and the statements of a member admitted later are read.
    Without (offline), or until the view has read the chain, the gateway key in ``consortium.json``."""
    snapshot = None if trust is None else trust.snapshot
    orgs: list[str] = [m.org for m in description.members]
    if snapshot is not None:
        orgs += [org for org in snapshot.orgs() if org not in orgs]
    fallback: dict[str, bytes] = {m.org: m.identity.gateway_public_key for m in description.members}
    found: dict[tuple[str, str], Tombstone] = {}
    for org in orgs:
        folder = Path(directory) / "orgs" / org / STATEMENTS_DIR
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                signed = json.loads(path.read_bytes())
                if trust is None or snapshot is None:
                    tombstone = Tombstone.from_signed(signed, fallback[org])
                else:
                    tombstone = _on_chain(signed, org, trust, snapshot)
                if tombstone.provider != org or path.stem != tombstone.day:
                    raise MalformedError(f"it is the statement of {tombstone.provider} for {tombstone.day}")
            except (OSError, ValueError, MalformedError) as exc:
                log.warning("ignoring shred statement %s: %s", path, exc)
                continue
            found[(tombstone.provider, tombstone.day)] = tombstone
    return found


def _on_chain(signed: object, org: str, trust: TrustView, snapshot: TrustSnapshot) -> Tombstone:
    """The tombstone of ``signed`` if one of ``org``'s gateway keys on chain signed it and was valid at the block
    of its time, else MalformedError."""
    keys = [r for r in snapshot.records.get(org, ()) if r.kind is KeyKind.GATEWAY_KEY]
    for record in keys:
        try:
            tombstone = Tombstone.from_signed(signed, record.value)
        except MalformedError:
            continue
        block = trust.block_at_time(tombstone.shredded_ms / 1000)
        if block is None or not record.valid_at(block):
            when = "before the chain's first block" if block is None else f"at block {block}"
            raise MalformedError(
                f"signed by {org}'s gateway key #{record.index}, not valid {when} (the statement's time, "
                f"shredded_ms {tombstone.shredded_ms})"
            )
        return tombstone
    raise MalformedError(f"not signed by a gateway key of {org} on chain")


class ShredBook:
    """The shred statements of a consortium directory, read again at most every ``rescan_s`` seconds, each judged
    by the gateway keys on chain of ``trust`` if given (:func:`load_statements`). When the chain does not answer
    (the time of a block), the statements read before are kept until the next read."""

    def __init__(
        self,
        directory: Path,
        description: ConsortiumDescription,
        *,
        rescan_s: float = RESCAN_S,
        clock: Callable[[], float] = time.monotonic,
        trust: TrustView | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.description = description
        self.trust = trust
        self.rescan_s = rescan_s
        self._clock = clock
        self._lock = threading.Lock()
        self._at: float | None = None
        self._found: dict[tuple[str, str], Tombstone] = {}

    def lookup(self, provider: str, day: str) -> Tombstone | None:
        with self._lock:
            now = self._clock()
            if self._at is None or now - self._at >= self.rescan_s:
                try:
                    self._found = load_statements(self.directory, self.description, self.trust)
                except Exception as exc:  # the chain not answering a block's time: the statements read last
                    log.warning("shred statements not read again (%s: %s); keeping the %d read before",
                                type(exc).__name__, exc, len(self._found))  # fmt: skip
                self._at = now
            return self._found.get((provider, day))
