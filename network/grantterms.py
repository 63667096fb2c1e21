"""Where a member keeps the terms of private grants, and how a call is decided with them.

A private grant (``chain.contracts.grants``) has only a key and a commitment on chain; its grantee, purpose,
window, quota and salt are held by its parties and the regulator, each in its own **terms store** in the
consortium directory, one file per grant, named by the grant's commitment:

    orgs/<org>/grant-terms/<commitment hex>.json     mode 0600, written atomically

A file is the document ``consortium grant terms export`` prints (``FORMAT``): the terms, the salt, the grant id
(null while the creating transaction is pending) and when the grantor recorded it. The grantor writes the file
*before* it sends the transaction, so that a crash between the two loses no salt (a file whose transaction never
landed decides nothing: ``check_private`` answers ``NO_GRANT`` for it), and fills in the grant id after.

**One salt per (asset, grantee, purpose).** A grantor draws a salt for the first private grant of a triple and
reuses it for the next ones (:meth:`TermsStore.salt_for`), so that they share one key on chain and the newest
replaces the earlier as with clear grants: the chain, not a party's files, says which grant of the triple is
current, and every holder of the terms gets the same answer. The commitments still differ (the windows do).

**The rule a gateway applies** (:func:`decide`): for (asset, grantee, purpose) it takes ``check_private``'s answer
for the terms of its store for the triple, newest first, and takes the first answer that found the grant (anything
but ``NO_GRANT`` and ``TERMS_MISMATCH``); with none, it asks the clear ``check``. So a private grant of the triple
decides whenever the grantor holds its terms, and a clear grant only when there is none. ``check_private``'s answer
is computed here (``chain.contracts.privatecheck.check_private_here``), from storage words the node is asked by
slot: the terms and the salt never leave the machine that holds them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from chain.backend import Backend, RpcBackend
from chain.contracts.grants import AccessGrantsClient, CheckResult, GrantStatus, PrivateTerms
from chain.contracts.privatecheck import TrustedHeads, check_private_here
from chain.errors import MalformedError
from chain.ids import check_name
from network._pem import PRIVATE_FILE_MODE
from notary.durable import replace_file

if TYPE_CHECKING:
    from network.description import ConsortiumDescription

log = logging.getLogger("network.grantterms")

TERMS_DIR: Final = "grant-terms"
FORMAT: Final = "consortium-ledger/grant-terms/v1"
#: Answers of ``check_private`` that did not find the grant the terms are for.
_NOT_FOUND: Final = frozenset({GrantStatus.NO_GRANT, GrantStatus.TERMS_MISMATCH})


def terms_dir(directory: Path, org: str) -> Path:
    """The terms store of ``org`` in a consortium directory."""
    return Path(directory) / "orgs" / check_name(org, "org id") / TERMS_DIR


@dataclass(frozen=True, slots=True)
class TermsRecord:
    """A private grant's terms as a party keeps them."""

    terms: PrivateTerms
    grant_id: bytes | None  # None until the creating transaction's receipt is read
    recorded_ms: int  # when the grantor recorded the terms: orders the grants of one triple, newest first

    @property
    def file_name(self) -> str:
        return self.terms.commitment.hex() + ".json"

    def to_json(self) -> dict[str, Any]:
        t = self.terms
        return {
            "format": FORMAT,
            "grant_id": None if self.grant_id is None else "0x" + self.grant_id.hex(),
            "asset": t.asset,
            "grantor": t.grantor,
            "grantee": t.grantee,
            "purpose": t.purpose,
            "not_before": t.not_before,
            "expires_at": t.expires_at,
            "quota": t.quota,
            "salt": "0x" + t.salt.hex(),
            "key": "0x" + t.key.hex(),
            "commitment": "0x" + t.commitment.hex(),
            "recorded_ms": self.recorded_ms,
        }

    @classmethod
    def from_json(cls, data: Any) -> TermsRecord:
        """Parse a terms document; MalformedError for anything else, or for a key or commitment that the terms
        do not hash to."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise MalformedError(f"not a grant terms document (format {FORMAT})")
        try:
            terms = PrivateTerms(
                _str(data["asset"]),
                _str(data["grantor"]),
                _str(data["grantee"]),
                _str(data["purpose"]),
                _int(data["not_before"]),
                _int(data["expires_at"]),
                _int(data["quota"]),
                _hex32(data["salt"], "salt"),
            )
            grant_id = None if data.get("grant_id") is None else _hex32(data["grant_id"], "grant id")
            recorded_ms = _int(data.get("recorded_ms", 0))
        except KeyError as exc:
            raise MalformedError(f"grant terms document lacks {exc.args[0]!r}") from None
        for field, value in (("key", terms.key), ("commitment", terms.commitment)):
            if field in data and _hex32(data[field], field) != value:
                raise MalformedError(f"the terms do not hash to the document's {field}")
        return cls(terms, grant_id, recorded_ms)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise MalformedError(f"expected a string, got {value!r}")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedError(f"expected an integer, got {value!r}")
    return value


def _hex32(value: Any, what: str) -> bytes:
    text = _str(value)
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise MalformedError(f"{what} is not hex: {text!r}") from None
    if len(raw) != 32:
        raise MalformedError(f"{what} must be 32 bytes")
    return raw


class TermsStore:
    """``org``'s terms store in ``directory``: read into memory, kept in step by :meth:`refresh`."""

    def __init__(self, directory: Path, org: str) -> None:
        self.org = check_name(org, "org id")
        self.path = terms_dir(directory, org)
        self._names: frozenset[str] = frozenset()
        self._by_triple: dict[tuple[str, str, str], list[TermsRecord]] = {}
        self._records: list[TermsRecord] = []
        self.refresh()

    # -- reads ------------------------------------------------------------------------------------------------

    def records(self) -> list[TermsRecord]:
        """Every record, newest first."""
        return list(self._records)

    def find(self, asset: str, grantee: str, purpose: str) -> list[TermsRecord]:
        """The records of (asset, grantee, purpose), newest first."""
        return list(self._by_triple.get((asset, grantee, purpose), ()))

    def by_grant(self, grant_id: bytes) -> TermsRecord | None:
        return next((r for r in self._records if r.grant_id == grant_id), None)

    def salt_for(self, asset: str, grantee: str, purpose: str) -> bytes | None:
        """The salt of this org's newest grant of the triple, which its next grant of it reuses (same key)."""
        found = [r for r in self.find(asset, grantee, purpose) if r.terms.grantor == self.org]
        return found[0].terms.salt if found else None

    def refresh(self) -> bool:
        """Read the store again if files were added or removed since the last read; True if they were. A file
        that does not parse is left out with a warning (one bad file must not hide the others)."""
        try:
            names = frozenset(n for n in os.listdir(self.path) if n.endswith(".json") and not n.startswith("."))
        except FileNotFoundError:
            names = frozenset()
        except OSError as exc:  # keep what was read: a store that cannot be listed must not stop a gateway
            log.warning("grant terms store %s cannot be read: %s", self.path, exc)
            return False
        if names == self._names:
            return False
        records = []
        for name in sorted(names):
            try:
                records.append(TermsRecord.from_json(json.loads((self.path / name).read_bytes())))
            except (OSError, ValueError, MalformedError) as exc:
                log.warning("grant terms %s left out: %s", self.path / name, exc)
        self._set(names, records)
        return True

    def _set(self, names: frozenset[str], records: Iterable[TermsRecord]) -> None:
        ordered = sorted(records, key=lambda r: (r.recorded_ms, r.terms.commitment), reverse=True)
        by_triple: dict[tuple[str, str, str], list[TermsRecord]] = {}
        for r in ordered:
            by_triple.setdefault((r.terms.asset, r.terms.grantee, r.terms.purpose), []).append(r)
        self._records, self._by_triple, self._names = ordered, by_triple, names

    # -- writes -----------------------------------------------------------------------------------------------

    def put(self, record: TermsRecord) -> Path:
        """Write ``record`` (atomically, mode 0600), replacing the file of the same commitment; its path."""
        path = self.path / record.file_name
        replace_file(path, (json.dumps(record.to_json(), indent=1) + "\n").encode(), PRIVATE_FILE_MODE)
        kept = [r for r in self._records if r.file_name != record.file_name]
        self._set(self._names | {record.file_name}, [*kept, record])
        return path

    def remove(self, record: TermsRecord) -> None:
        """Delete ``record``'s file (the grantor's, when its transaction was refused)."""
        (self.path / record.file_name).unlink(missing_ok=True)
        kept = [r for r in self._records if r.file_name != record.file_name]
        self._set(self._names - {record.file_name}, kept)


def new_record(terms: PrivateTerms) -> TermsRecord:
    """A pending record of ``terms``, stamped now."""
    return TermsRecord(terms, None, time.time_ns() // 1_000_000)


def with_grant_id(record: TermsRecord, grant_id: bytes) -> TermsRecord:
    return replace(record, grant_id=grant_id)


@dataclass(frozen=True, slots=True)
class Decided:
    """The chain's answer for (asset, grantee, purpose) and the private terms it was given, if any."""

    result: CheckResult
    terms: PrivateTerms | None


def decide(
    grants: AccessGrantsClient,
    store: TermsStore | None,
    asset: str,
    grantee: str,
    purpose: str,
    at: int,
    *,
    proven: TrustedHeads | None = None,
) -> Decided:
    """The answer for a call at ``at`` by the rule of the module docstring: the private grant whose terms the
    store holds, else the clear grant. When the store's terms found no grant and the clear check finds none
    either, the first private answer is kept (``TERMS_MISMATCH`` says more than ``NO_GRANT``). A private
    grant's answer is ``check_private``'s, computed without sending the terms (``check_private_here``), from
    storage words proven against a sealed header's state root when ``proven`` is given (``UnprovenError`` when
    they are not)."""
    missed: Decided | None = None
    for record in store.find(asset, grantee, purpose) if store is not None else ():
        result = check_private_here(grants, record.terms, at, proven=proven)
        if result.status not in _NOT_FOUND:
            return Decided(result, record.terms)
        if missed is None or (
            result.status is GrantStatus.TERMS_MISMATCH and missed.result.status is GrantStatus.NO_GRANT
        ):
            missed = Decided(result, None)
    clear = grants.check(asset, grantee, purpose, at)
    if clear.status is GrantStatus.NO_GRANT and missed is not None:
        return missed
    return Decided(clear, None)


def trusted_heads(
    backend: Backend, description: ConsortiumDescription, kept: Path | None = None, *, keep_every: int = 1
) -> TrustedHeads | None:
    """How a member proves the storage words of a private grant's check, by default (docs/confidentiality.md,
    note 4): on the consortium's own chain (``chain.kind`` "local", whose nodes seal headers by QBFT and serve
    ``eth_getProof``) over JSON-RPC, against headers followed from the founding validators ``consortium.json``
    names; None (the node's word) on an external chain, whose headers need not carry QBFT seals, on a chain in
    this process (its state is this process's own) and when ``consortium.json`` names no validator. With
    ``kept``, the last header accepted is kept in that file and the next walk resumes from it
    (``network.keptheader``), written again every ``keep_every`` headers."""
    from chain.ids import Role

    if description.chain_kind != "local" or not isinstance(backend, RpcBackend):
        return None
    founders = {bytes.fromhex(m.identity.account[2:]) for m in description.members if Role.VALIDATOR in m.roles}
    if not founders:
        return None
    if kept is None:
        return TrustedHeads(backend, founders)
    from network.keptheader import KeptHeaderFile

    return TrustedHeads(backend, founders, KeptHeaderFile(kept), keep_every=keep_every)


__all__ = [
    "FORMAT",
    "TERMS_DIR",
    "Decided",
    "TermsRecord",
    "TermsStore",
    "decide",
    "new_record",
    "terms_dir",
    "trusted_heads",
    "with_grant_id",
]
