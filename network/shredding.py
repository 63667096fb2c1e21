"""Where a consortium directory keeps salt vaults and the shred statements its members publish.

A provider's salt vault (``notary.submit.vault``) stays in the data directory of what records its events:

    gateways/<org>/vault/          the vault of every gateway of <org> run from this directory
    explorer/vault/                the explorer's vault of its own audit events (provider: the operator)
    alarms/vault/                  the vault of the alarm records ``consortium up`` makes (provider: the operator)

When a provider shreds a day (``consortium data shred``) it publishes a *shred statement*, the vault's tombstone
signed with its gateway key, beside its other public files, as it publishes its CRL:

    orgs/<org>/shreds/<YYYY-MM-DD>.json

Anyone holding ``consortium.json`` checks a statement against the org's gateway key there; the explorer reads
them (:class:`ShredBook`) to show the calls of a shredded day as shredded. A statement is a claim by the provider
about its own keys: the explorer cannot see whether a key is really gone, only that its owner says so and signed
it. Nothing in the log or on chain changes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from network._pem import PUBLIC_FILE_MODE
from network.description import ConsortiumDescription
from notary.durable import replace_file
from notary.log.errors import MalformedError
from notary.submit.vault import SaltVault, Tombstone, check_day

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


def load_statements(directory: Path, description: ConsortiumDescription) -> dict[tuple[str, str], Tombstone]:
    """Every published shred statement whose signature verifies under its org's gateway key in
    ``consortium.json``, by (provider, day). Others are left out with a warning."""
    found: dict[tuple[str, str], Tombstone] = {}
    for member in description.members:
        folder = Path(directory) / "orgs" / member.org / STATEMENTS_DIR
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                tombstone = Tombstone.from_signed(json.loads(path.read_bytes()), member.identity.gateway_public_key)
                if tombstone.provider != member.org or path.stem != tombstone.day:
                    raise MalformedError(f"it is the statement of {tombstone.provider} for {tombstone.day}")
            except (OSError, ValueError, MalformedError) as exc:
                log.warning("ignoring shred statement %s: %s", path, exc)
                continue
            found[(tombstone.provider, tombstone.day)] = tombstone
    return found


class ShredBook:
    """The shred statements of a consortium directory, read again at most every ``rescan_s`` seconds."""

    def __init__(
        self,
        directory: Path,
        description: ConsortiumDescription,
        *,
        rescan_s: float = RESCAN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = Path(directory)
        self.description = description
        self.rescan_s = rescan_s
        self._clock = clock
        self._lock = threading.Lock()
        self._at: float | None = None
        self._found: dict[tuple[str, str], Tombstone] = {}

    def lookup(self, provider: str, day: str) -> Tombstone | None:
        with self._lock:
            now = self._clock()
            if self._at is None or now - self._at >= self.rescan_s:
                self._found = load_statements(self.directory, self.description)
                self._at = now
            return self._found.get((provider, day))
