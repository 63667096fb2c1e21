"""The explorer's index of the chain: blocks, transactions and our four contracts' decoded events, in SQLite.

The index is only a cache of the chain (``DIR/explorer/chain.db``): deleting it loses nothing, the follower
(:mod:`explorer.chainfollow`) rebuilds it from block 0. It is written by one thread, one block per SQLite
transaction, in order (a block is accepted only as ``head() + 1``), so a reader sees every block up to some
head in full and nothing after it. Reads run in any number of threads, each on its own connection; in WAL mode
they never wait for the writer and see only committed blocks.

What is stored comes already decoded (the follower decodes calls and logs with the contracts' ABIs):

``add_block(block, transactions, events)``
    block        ``{number, hash, parent_hash, timestamp, seals}`` (``seals`` a dict, or None on a chain
                 without our seals); ``tx_count`` is ``len(transactions)``
    transactions ``{hash, index, from, to, contract, function, args, status}`` and optionally ``created``
                 (the address a deployment created); ``contract`` is one of our contracts' names or None,
                 ``function``/``args`` the decoded call or None
    events       ``{tx_hash, log_index, contract, event, args}`` and optionally ``address``, one per log of
                 the block; logs not ours (or not decodable) have ``contract``/``event``/``args`` None

Reads answer what the interface names and a little more: a transaction also has ``created`` and its block's
``timestamp``, each of its events its ``address``, an asset version ``registered_by`` (the sender). Times are
chain seconds; whatever a block changed holds from that block's timestamp on (``at`` is inclusive).

Hashes are stored as lower-case 0x-hex; lookups by hash accept any case. Arguments are stored as JSON;
integers of the contracts (uint64 times, uint256 quotas) may exceed SQLite's 64 bits, so they are read from
that JSON and never from an integer column.

Beside the rows, the writer keeps what the histories need, derived from the events in log order:

* ``event_keys``: which events are about which member (org id), asset (asset id) or grant (0x id). A member's
  history is its membership events (admission, proposals about it and their approvals, suspension,
  reinstatement, removal, accounts, certificate); an asset's is its registration, versions, transfer offers and
  transfers, retirement, its APIs and the grants on it; a grant's is its creation and revocation;
* ``owners``: every owner an asset has had (registration, then each accepted transfer), for ``owner_at``;
* ``versions``: where each asset version was registered, for ``asset_version_at``;
* ``accounts``: which member holds which account (from the registry's admissions, account changes and
  removals), so the follower can name the org of a validator that sealed a block;
* ``proposals`` and ``apis``: the subject org of each proposal and the asset of each API, which later events
  (``ProposalApproved``, ``ApiRetired``) do not carry.

A grant's state at a time follows ``AccessGrants.check``: revoked first, then outside its validity window
(``not_before <= at < expires_at``). A private grant's window is not on chain: unless revoked its state is
``private``, and its terms are None. The contract also voids a grant when the asset changes owner after it;
``grant_state_at`` reports that beside the state (``void``), which keeps the four states of the interface.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NotRequired, TypedDict

SCHEMA_VERSION = 1

#: The kinds ``history`` answers, and what their key is.
HISTORY_KINDS = ("member", "asset", "grant")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    parent_hash TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    tx_count INTEGER NOT NULL,
    seals TEXT
);
CREATE INDEX IF NOT EXISTS blocks_hash ON blocks (hash);
CREATE TABLE IF NOT EXISTS transactions (
    hash TEXT PRIMARY KEY,
    block_number INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    sender TEXT,
    recipient TEXT,
    contract TEXT,
    function TEXT,
    args TEXT,
    status INTEGER,
    created TEXT
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS transactions_position ON transactions (block_number, idx);
CREATE TABLE IF NOT EXISTS events (
    block_number INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    address TEXT,
    contract TEXT,
    event TEXT,
    args TEXT,
    PRIMARY KEY (block_number, log_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_tx ON events (tx_hash);
CREATE INDEX IF NOT EXISTS events_contract ON events (contract, block_number, log_index);
CREATE INDEX IF NOT EXISTS events_contract_event ON events (contract, event, block_number, log_index);
CREATE INDEX IF NOT EXISTS events_event ON events (event, block_number, log_index);
CREATE TABLE IF NOT EXISTS event_keys (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    block_number INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (kind, key, block_number, log_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS owners (
    asset TEXT NOT NULL,
    block_number INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (asset, block_number, log_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions (
    asset TEXT NOT NULL,
    version TEXT NOT NULL,
    block_number INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (asset, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts (address TEXT PRIMARY KEY, org TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS proposals (proposal_id TEXT PRIMARY KEY, org TEXT, accounts TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS apis (api TEXT PRIMARY KEY, asset TEXT NOT NULL) WITHOUT ROWID;
"""

_TABLES = ("blocks", "transactions", "events", "event_keys", "owners", "versions", "accounts", "proposals", "apis")

_REGISTRY = "ConsortiumRegistry"
_ASSETS = "DataAssetRegistry"
_GRANTS = "AccessGrants"
_GRANT_EVENTS = frozenset({"GrantCreated", "GrantRevoked", "PrivateGrantCreated", "PrivateGrantRevoked"})

#: Events whose ``org`` argument is the member the event is about (ProposalApproved's ``org`` is the voter).
_MEMBER_EVENTS = frozenset(
    {
        "MemberAdmitted",
        "MemberRemoved",
        "MemberSuspended",
        "MemberReinstated",
        "ProposalCreated",
        "AccountAdded",
        "AccountRemoved",
        "CertificateChanged",
    }
)
#: DataAssetRegistry events whose ``asset`` argument is the asset they are about.
_ASSET_EVENTS = frozenset(
    {
        "AssetRegistered",
        "AssetVersionAdded",
        "TransferOffered",
        "TransferCancelled",
        "AssetTransferred",
        "AssetRetired",
        "ApiRegistered",
    }
)

_EVENT_COLUMNS = "e.block_number, b.timestamp, e.tx_hash, e.log_index, e.contract, e.event, e.args"
_TX_COLUMNS = "hash, block_number, idx, sender, recipient, contract, function, args, status, created"


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class ChainEventRow(TypedDict):
    """One of our contracts' events as the index lists it (:meth:`ChainIndex.events`, :meth:`ChainIndex.history`):
    ``args`` decoded by its ABI."""

    block_number: int
    timestamp: int
    tx_hash: str
    log_index: int
    contract: str
    event: str
    args: dict[str, Any]


class TransactionLog(TypedDict):
    """A log of a transaction (:meth:`ChainIndex.transaction`): contract and event None for a log not ours."""

    log_index: int
    contract: str | None
    event: str | None
    args: dict[str, Any] | None
    address: str | None  # None in an index made before logs kept their address


#: A transaction, its call decoded by its contract's ABI (``function`` and ``args`` None when not ours; ``to`` None
#: for a deployment, ``created`` the contract it made); ``events`` only in :meth:`ChainIndex.transaction`,
#: ``redacted`` only as ``explorer.access.redact_transaction`` hides it. (``from`` is no name a class may declare.)
TransactionRow = TypedDict(
    "TransactionRow",
    {
        "hash": str,
        "block_number": int,
        "index": int,
        "from": str | None,
        "to": str | None,
        "contract": str | None,
        "function": str | None,
        "args": dict[str, Any] | None,
        "status": int | None,
        "created": str | None,
        "timestamp": int,
        "events": NotRequired[list[TransactionLog]],
        "redacted": NotRequired[bool],
    },
)


class BlockRow(TypedDict):
    """A block as the index lists it (:meth:`ChainIndex.blocks`); its transactions only in
    :meth:`ChainIndex.block`. ``seals``: ``explorer.chainfollow.block_seals`` (None: not our seal format)."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
    tx_count: int
    seals: dict[str, Any] | None
    transactions: NotRequired[list[TransactionRow]]


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _hash(value: Any) -> str:
    return str(value).lower()


def _int(value: Any, default: int = 0) -> int:
    """An integer argument (JSON may hold it as a number or, from other writers, as a decimal string)."""
    if value is None:
        return default
    return int(value)


class ChainIndex:
    """SQLite index of the chain; see the module docstring."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"no chain index at {self.path}: the chain follower creates it")
            version = int(self._reader().execute("PRAGMA user_version").fetchone()[0])
            if version != SCHEMA_VERSION:
                raise ValueError(
                    f"{self.path}: chain index schema {version}, this explorer reads {SCHEMA_VERSION}; "
                    "let the follower rebuild it"
                )
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._connect(write=True)
        version = int(self._writer.execute("PRAGMA user_version").fetchone()[0])
        if version not in (0, SCHEMA_VERSION):  # an index of another layout: it is only a cache, rebuild it
            with self._transaction() as db:
                for table in _TABLES:
                    db.execute(f"DROP TABLE IF EXISTS {table}")
        self._writer.executescript(_SCHEMA)
        self._writer.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- connections ------------------------------------------------------------------------------------------

    def _connect(self, write: bool) -> sqlite3.Connection:
        if write:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            # A lost last commit after a power cut costs a re-fetch of that block, nothing more.
            conn.execute("PRAGMA synchronous=NORMAL")
        else:
            uri = self.path.resolve().as_uri() + ("?mode=ro" if self.readonly else "")
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(write=False)
            self._local.conn = conn
        return conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._reader().execute(sql, params).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self._writer is None:
            raise PermissionError(f"{self.path} is open read-only")
        with self._write_lock:
            db = self._writer
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this index opened (its threads must be done reading)."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._writer = None

    # -- writing ----------------------------------------------------------------------------------------------

    def add_block(
        self,
        block: Mapping[str, Any],
        transactions: Sequence[Mapping[str, Any]],
        events: Sequence[Mapping[str, Any]],
    ) -> None:
        """Index one block, in one transaction; its number must be ``head() + 1`` (else ValueError)."""
        number = int(block["number"])
        timestamp = int(block["timestamp"])
        tx_hashes = [_hash(tx["hash"]) for tx in transactions]
        if len(set(tx_hashes)) != len(tx_hashes):
            raise ValueError(f"block {number}: a transaction hash appears twice")
        by_hash = {h: tx for h, tx in zip(tx_hashes, transactions, strict=True)}
        ordered = sorted(events, key=lambda e: int(e["log_index"]))
        for e in ordered:
            if _hash(e["tx_hash"]) not in by_hash:
                raise ValueError(f"block {number}: log {e['log_index']} names transaction {e['tx_hash']}, not in it")
        if len({int(e["log_index"]) for e in ordered}) != len(ordered):
            raise ValueError(f"block {number}: a log index appears twice")
        with self._transaction() as db:
            head = db.execute("SELECT max(number) FROM blocks").fetchone()[0]
            expected = 0 if head is None else head + 1
            if number != expected:
                raise ValueError(f"block {number} cannot be indexed next: the index holds blocks up to {expected - 1}")
            db.execute(
                "INSERT INTO blocks (number, hash, parent_hash, timestamp, tx_count, seals) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    number,
                    _hash(block["hash"]),
                    _hash(block["parent_hash"]),
                    timestamp,
                    len(transactions),
                    _dump(block.get("seals")),
                ),
            )
            db.executemany(
                f"INSERT INTO transactions ({_TX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        h,
                        number,
                        int(tx["index"]),
                        tx.get("from"),
                        tx.get("to"),
                        tx.get("contract"),
                        tx.get("function"),
                        _dump(tx.get("args")),
                        None if tx.get("status") is None else int(tx["status"]),
                        tx.get("created"),
                    )
                    for h, tx in by_hash.items()
                ],
            )
            for e in ordered:
                log_index = int(e["log_index"])
                tx_hash = _hash(e["tx_hash"])
                db.execute(
                    "INSERT INTO events (block_number, log_index, tx_hash, address, contract, event, args) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (number, log_index, tx_hash, e.get("address"), e.get("contract"), e.get("event"),
                     _dump(e.get("args"))),
                )  # fmt: skip
                if e.get("contract") is not None and e.get("event") is not None and isinstance(e.get("args"), dict):
                    self._derive(db, number, log_index, timestamp, e, by_hash[tx_hash])

    def _derive(
        self,
        db: sqlite3.Connection,
        number: int,
        log_index: int,
        timestamp: int,
        event: Mapping[str, Any],
        tx: Mapping[str, Any],
    ) -> None:
        """Keep the histories' tables in step with one of our events."""
        contract, name, args = event["contract"], event["event"], event["args"]
        keys: list[tuple[str, Any]] = []

        def key(kind: str, value: Any) -> None:
            if value:
                keys.append((kind, _hash(value) if kind == "grant" else str(value)))

        if contract == _REGISTRY:
            org = args.get("org")
            if name in _MEMBER_EVENTS:
                key("member", org)
            if name == "ProposalCreated":
                accounts = None
                tx_args = tx.get("args")
                if tx.get("function") == "propose_admit" and isinstance(tx_args, dict):
                    accounts = tx_args.get("accounts")
                db.execute(
                    "INSERT OR REPLACE INTO proposals (proposal_id, org, accounts) VALUES (?, ?, ?)",
                    (str(args.get("proposal_id")), org or None, _dump(accounts)),
                )
            elif name == "ProposalApproved":
                row = db.execute(
                    "SELECT org FROM proposals WHERE proposal_id = ?", (str(args.get("proposal_id")),)
                ).fetchone()
                if row is not None:
                    key("member", row[0])
            elif name == "MemberAdmitted":
                for account in self._admitted_accounts(db, args, tx):
                    db.execute("INSERT OR REPLACE INTO accounts (address, org) VALUES (?, ?)", (account.lower(), org))
            elif name == "MemberRemoved":
                db.execute("DELETE FROM accounts WHERE org = ?", (org,))
            elif name == "AccountAdded" and args.get("account"):
                db.execute(
                    "INSERT OR REPLACE INTO accounts (address, org) VALUES (?, ?)", (str(args["account"]).lower(), org)
                )
            elif name == "AccountRemoved" and args.get("account"):
                db.execute("DELETE FROM accounts WHERE address = ?", (str(args["account"]).lower(),))
        elif contract == _ASSETS:
            asset = args.get("asset")
            if name in _ASSET_EVENTS:
                key("asset", asset)
            if name == "AssetRegistered" and asset and args.get("owner"):
                db.execute(
                    "INSERT INTO owners (asset, block_number, log_index, timestamp, owner) VALUES (?, ?, ?, ?, ?)",
                    (asset, number, log_index, timestamp, args["owner"]),
                )
            elif name == "AssetTransferred" and asset and args.get("to_org"):
                db.execute(
                    "INSERT INTO owners (asset, block_number, log_index, timestamp, owner) VALUES (?, ?, ?, ?, ?)",
                    (asset, number, log_index, timestamp, args["to_org"]),
                )
            elif name == "AssetVersionAdded" and asset and args.get("version") is not None:
                db.execute(
                    "INSERT OR REPLACE INTO versions (asset, version, block_number, log_index) VALUES (?, ?, ?, ?)",
                    (asset, str(args["version"]), number, log_index),
                )
            elif name == "ApiRegistered" and args.get("api") and asset:
                db.execute("INSERT OR REPLACE INTO apis (api, asset) VALUES (?, ?)", (args["api"], asset))
            elif name == "ApiRetired" and args.get("api"):
                row = db.execute("SELECT asset FROM apis WHERE api = ?", (args["api"],)).fetchone()
                if row is not None:
                    key("asset", row[0])
        elif contract == _GRANTS and name in _GRANT_EVENTS:
            key("grant", args.get("grant_id"))
            key("asset", args.get("asset"))
        db.executemany(
            "INSERT OR IGNORE INTO event_keys (kind, key, block_number, log_index) VALUES (?, ?, ?, ?)",
            [(kind, value, number, log_index) for kind, value in keys],
        )

    @staticmethod
    def _admitted_accounts(db: sqlite3.Connection, args: Mapping[str, Any], tx: Mapping[str, Any]) -> list[str]:
        """The accounts of an admitted member: from its proposal, or from the bootstrap call that admitted it."""
        proposal_id = _int(args.get("proposal_id"))
        accounts: Any = None
        if proposal_id:
            row = db.execute("SELECT accounts FROM proposals WHERE proposal_id = ?", (str(proposal_id),)).fetchone()
            accounts = None if row is None else _load(row[0])
        else:
            tx_args = tx.get("args")
            if tx.get("function") == "bootstrap_member" and isinstance(tx_args, dict):
                accounts = tx_args.get("accounts") if tx_args.get("org") == args.get("org") else None
        return [str(a) for a in accounts] if isinstance(accounts, list) else []

    # -- blocks and transactions ------------------------------------------------------------------------------

    def head(self) -> int:
        """The last indexed block number, -1 if none."""
        value = self._query("SELECT max(number) FROM blocks")[0][0]
        return -1 if value is None else int(value)

    @staticmethod
    def _block_row(row: Sequence[Any]) -> BlockRow:
        return {
            "number": row[0],
            "hash": row[1],
            "parent_hash": row[2],
            "timestamp": row[3],
            "tx_count": row[4],
            "seals": _load(row[5]),
        }

    def blocks(self, *, before: int | None, limit: int) -> list[BlockRow]:
        """Blocks numbered below ``before`` (all when None), newest first, at most ``limit``."""
        sql = "SELECT number, hash, parent_hash, timestamp, tx_count, seals FROM blocks"
        params: list[Any] = []
        if before is not None:
            sql += " WHERE number < ?"
            params.append(before)
        sql += " ORDER BY number DESC LIMIT ?"
        params.append(max(0, limit))
        return [self._block_row(r) for r in self._query(sql, params)]

    def block(self, number: int) -> BlockRow | None:
        """One block with its decoded transactions (without their events), in block order."""
        rows = self._query(
            "SELECT number, hash, parent_hash, timestamp, tx_count, seals FROM blocks WHERE number = ?", (number,)
        )
        if not rows:
            return None
        block = self._block_row(rows[0])
        txs = self._query(f"SELECT {_TX_COLUMNS} FROM transactions WHERE block_number = ? ORDER BY idx", (number,))
        block["transactions"] = [self._tx_row(r, block["timestamp"]) for r in txs]
        return block

    def block_number_of(self, block_hash: str) -> int | None:
        """The number of an indexed block, by hash."""
        rows = self._query("SELECT number FROM blocks WHERE hash = ?", (_hash(block_hash),))
        return None if not rows else int(rows[0][0])

    @staticmethod
    def _tx_row(row: Sequence[Any], timestamp: int) -> TransactionRow:
        return {
            "hash": row[0],
            "block_number": row[1],
            "index": row[2],
            "from": row[3],
            "to": row[4],
            "contract": row[5],
            "function": row[6],
            "args": _load(row[7]),
            "status": row[8],
            "created": row[9],
            "timestamp": timestamp,
        }

    def transaction(self, tx_hash: str) -> TransactionRow | None:
        """One transaction, decoded, with its events (every log; logs not ours have contract and event None)."""
        rows = self._query(
            f"SELECT {', '.join('t.' + c for c in _TX_COLUMNS.split(', '))}, b.timestamp "
            "FROM transactions t JOIN blocks b ON b.number = t.block_number WHERE t.hash = ?",
            (_hash(tx_hash),),
        )
        if not rows:
            return None
        tx = self._tx_row(rows[0][:-1], rows[0][-1])
        events = self._query(
            "SELECT log_index, contract, event, args, address FROM events WHERE tx_hash = ? ORDER BY log_index",
            (tx["hash"],),
        )
        tx["events"] = [
            {"log_index": r[0], "contract": r[1], "event": r[2], "args": _load(r[3]), "address": r[4]} for r in events
        ]
        return tx

    # -- events and histories ---------------------------------------------------------------------------------

    @staticmethod
    def _event_row(row: Sequence[Any]) -> ChainEventRow:
        return {
            "block_number": row[0],
            "timestamp": row[1],
            "tx_hash": row[2],
            "log_index": row[3],
            "contract": row[4],
            "event": row[5],
            "args": _load(row[6]),
        }

    def events(
        self,
        *,
        contract: str | None,
        event: str | None,
        before: tuple[int, int] | None,
        limit: int,
    ) -> list[ChainEventRow]:
        """Our contracts' decoded events, newest first; ``before`` is an exclusive (block, log index) cursor."""
        where = ["e.contract IS NOT NULL", "e.event IS NOT NULL"]
        params: list[Any] = []
        if contract is not None:
            where.append("e.contract = ?")
            params.append(contract)
        if event is not None:
            where.append("e.event = ?")
            params.append(event)
        if before is not None:
            where.append("(e.block_number, e.log_index) < (?, ?)")
            params.extend((int(before[0]), int(before[1])))
        params.append(max(0, limit))
        rows = self._query(
            f"SELECT {_EVENT_COLUMNS} FROM events e JOIN blocks b ON b.number = e.block_number "
            f"WHERE {' AND '.join(where)} ORDER BY e.block_number DESC, e.log_index DESC LIMIT ?",
            params,
        )
        return [self._event_row(r) for r in rows]

    def history(self, kind: str, key: str) -> list[ChainEventRow]:
        """The decoded events about a member (org id), an asset (asset id) or a grant (0x id), oldest first."""
        if kind not in HISTORY_KINDS:
            raise ValueError(f"unknown history kind {kind!r}: use one of {', '.join(HISTORY_KINDS)}")
        rows = self._query(
            f"SELECT {_EVENT_COLUMNS} FROM event_keys k "
            "JOIN events e ON e.block_number = k.block_number AND e.log_index = k.log_index "
            "JOIN blocks b ON b.number = e.block_number "
            "WHERE k.kind = ? AND k.key = ? ORDER BY k.block_number, k.log_index",
            (kind, _hash(key) if kind == "grant" else key),
        )
        return [self._event_row(r) for r in rows]

    # -- state at a time --------------------------------------------------------------------------------------

    def grant_state_at(self, grant_id: str, at: int) -> dict[str, Any] | None:
        """The grant as it stood on chain at chain time ``at`` (seconds); None if unknown or created after."""
        history = self.history("grant", grant_id)
        created = next((e for e in history if e["event"] in ("GrantCreated", "PrivateGrantCreated")), None)
        if created is None or created["timestamp"] > at:
            return None
        args = created["args"]
        private = created["event"] == "PrivateGrantCreated"
        revoked = next(
            (e for e in history if e["event"] in ("GrantRevoked", "PrivateGrantRevoked") and e["timestamp"] <= at),
            None,
        )
        transfer = self._query(
            "SELECT timestamp FROM owners WHERE asset = ? AND (block_number, log_index) > (?, ?) AND timestamp <= ? "
            "ORDER BY block_number, log_index LIMIT 1",
            (args.get("asset"), created["block_number"], created["log_index"], at),
        )
        not_before = _int(args.get("not_before"))
        expires_at = _int(args.get("expires_at"))
        if revoked is not None:
            state = "revoked"
        elif private:
            state = "private"  # its window is in the terms, which the chain does not hold
        elif at < not_before:
            state = "not_yet_valid"
        elif at >= expires_at:
            state = "expired"
        else:
            state = "active"
        return {
            "grant_id": _hash(args.get("grant_id", grant_id)),
            "asset": args.get("asset"),
            "grantor": args.get("grantor"),
            "grantee": None if private else args.get("grantee"),
            "purpose": None if private else args.get("purpose"),
            "not_before": None if private else not_before,
            "expires_at": None if private else expires_at,
            "quota": None if private else _int(args.get("quota")),
            "private": private,
            "created_at": created["timestamp"],
            "created_block": created["block_number"],
            "created_tx": created["tx_hash"],
            "revoked": revoked is not None,
            "revoked_at": None if revoked is None else revoked["timestamp"],
            "revoke_reason": None if revoked is None else _int(revoked["args"].get("reason")),
            "revoked_tx": None if revoked is None else revoked["tx_hash"],
            "state": state,
            # AccessGrants.check answers OWNERSHIP_CHANGED once the asset changed owner after the grant.
            "void": bool(transfer),
            "void_at": transfer[0][0] if transfer else None,
        }

    def asset_version_at(self, asset: str, version: int) -> dict[str, Any] | None:
        """Version ``version`` of ``asset`` as registered (AssetRegistered / AssetVersionAdded)."""
        rows = self._query(
            "SELECT e.args, e.block_number, b.timestamp, e.tx_hash, t.sender FROM versions v "
            "JOIN events e ON e.block_number = v.block_number AND e.log_index = v.log_index "
            "JOIN blocks b ON b.number = e.block_number JOIN transactions t ON t.hash = e.tx_hash "
            "WHERE v.asset = ? AND v.version = ?",
            (asset, str(version)),
        )
        if not rows:
            return None
        args, block_number, timestamp, tx_hash, sender = rows[0]
        data = _load(args)
        return {
            "asset": asset,
            "version": version,
            "content_digest": data.get("content_digest"),
            "metadata_digest": data.get("metadata_digest"),
            "classification": data.get("classification"),
            "block_number": block_number,
            "timestamp": timestamp,
            "tx_hash": tx_hash,
            "registered_by": sender,
        }

    def owner_at(self, asset: str, at: int) -> str | None:
        """The org that owned ``asset`` at chain time ``at`` (None before its registration)."""
        rows = self._query(
            "SELECT owner FROM owners WHERE asset = ? AND timestamp <= ? "
            "ORDER BY block_number DESC, log_index DESC LIMIT 1",
            (asset, at),
        )
        return None if not rows else str(rows[0][0])

    def account_org(self, address: str) -> str | None:
        """The member that holds ``address`` after the indexed blocks (None if none does)."""
        rows = self._query("SELECT org FROM accounts WHERE address = ?", (address.lower(),))
        return None if not rows else str(rows[0][0])
