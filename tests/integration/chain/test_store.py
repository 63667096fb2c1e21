"""chain.node.store: every kind against the same contract, a dict model, a second opener and kill -9."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from eth.abc import AtomicDatabaseAPI
from eth.chains.base import MiningChain
from eth.vm.forks.prague import PragueVM
from eth_keys.datatypes import PrivateKey
from eth_typing import Address, BlockNumber
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chain.errors import ChainError, MalformedError
from chain.node.store import KINDS, MAX_KEY_BYTES, Store, StoreError, available_kinds, open_store
from tests.support.killed import child_env, run_until_killed

ROOT = Path(__file__).resolve().parents[3]
ALL_KINDS = [
    pytest.param(k, marks=pytest.mark.skipif(k not in available_kinds(), reason="plyvel is not installed"))
    for k in KINDS
]


@pytest.fixture(params=ALL_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def store(kind: str, tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "store", kind) as db:
        yield db


# -- the MutableMapping contract ------------------------------------------------------------------------------


def test_mapping_contract(store: Store) -> None:
    assert isinstance(store, AtomicDatabaseAPI)
    with pytest.raises(KeyError):
        store[b"missing"]
    assert store.get(b"missing") is None
    assert store.get(b"missing", b"d") == b"d"
    assert not store.exists(b"missing")
    assert b"missing" not in store
    store[b"a"] = b"1"
    store.set(b"b", b"")
    assert store[b"a"] == b"1"
    assert store[b"b"] == b""  # an empty value is a value
    assert store.exists(b"b") and b"b" in store
    store[b"a"] = b"2"
    assert store[b"a"] == b"2"
    assert list(store) == [b"a", b"b"] and len(store) == 2
    del store[b"a"]
    assert b"a" not in store
    with pytest.raises(KeyError):
        del store[b"a"]
    store.delete(b"a")  # deleting what is not there is fine
    store.delete(b"b")
    assert len(store) == 0 and list(store) == []


def test_iteration_is_ordered_across_chunks(store: Store) -> None:
    keys = [i.to_bytes(2, "big") for i in range(2500)]
    with store.atomic_batch() as batch:
        for k in reversed(keys):
            batch[k] = k
    assert list(store) == keys
    assert len(store) == 2500


def test_keys_and_values_are_checked(store: Store) -> None:
    store[b"k" * MAX_KEY_BYTES] = b"v" * 100_000
    assert store[b"k" * MAX_KEY_BYTES] == b"v" * 100_000
    for bad_key in (b"", b"k" * (MAX_KEY_BYTES + 1), "text", bytearray(b"x")):
        with pytest.raises(MalformedError):
            store[bad_key] = b"v"  # type: ignore[index]
        with pytest.raises(MalformedError), store.atomic_batch() as batch:
            batch[bad_key] = b"v"  # type: ignore[index]
    with pytest.raises(MalformedError):
        store[b"k"] = "v"  # type: ignore[assignment]
    assert b"" not in store and store.get(b"k" * (MAX_KEY_BYTES + 1)) is None


# -- batches --------------------------------------------------------------------------------------------------


def test_batch_writes_are_visible_inside_only_until_commit(store: Store) -> None:
    store[b"old"] = b"o"
    store[b"gone"] = b"g"
    with store.atomic_batch() as batch:
        batch[b"new"] = b"n"
        batch[b"old"] = b"o2"
        del batch[b"gone"]
        assert batch[b"new"] == b"n" and batch[b"old"] == b"o2"
        assert b"gone" not in batch and not batch.exists(b"gone")
        with pytest.raises(KeyError):
            batch[b"gone"]
        with pytest.raises(KeyError):
            del batch[b"gone"]
        batch.delete(b"gone")
        assert batch.get(b"untouched") is None
        # the store itself does not see the batch yet
        assert b"new" not in store and store[b"old"] == b"o" and store[b"gone"] == b"g"
        batch[b"tmp"] = b"t"
        del batch[b"tmp"]
    assert store[b"new"] == b"n" and store[b"old"] == b"o2"
    assert b"gone" not in store and b"tmp" not in store


def test_batch_rolls_back_on_exception(store: Store) -> None:
    store[b"keep"] = b"k"

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.atomic_batch() as batch:
        batch[b"new"] = b"n"
        del batch[b"keep"]
        raise Boom
    assert b"new" not in store and store[b"keep"] == b"k"
    with pytest.raises(StoreError, match="after its"):
        batch[b"late"] = b"x"
    with pytest.raises(StoreError):
        batch[b"keep"]


def test_empty_and_nested_batches(store: Store) -> None:
    with store.atomic_batch():
        pass
    with store.atomic_batch() as outer:
        outer[b"o"] = b"1"
        with store.atomic_batch() as inner:
            inner[b"i"] = b"2"
        assert store[b"i"] == b"2" and b"o" not in store
    assert store[b"o"] == b"1"


# -- a dict model under random operations ---------------------------------------------------------------------

KEYS = st.sampled_from([b"a", b"b", b"c", b"d", b"\x00", b"\xff" * 32])
VALUES = st.binary(max_size=40)
OPS = st.lists(st.tuples(st.sampled_from(["set", "del", "delete", "get"]), KEYS, VALUES), max_size=8)


class _Abort(Exception):
    pass


class StoreMachine(RuleBasedStateMachine):
    kind: ClassVar[str] = "lmdb"

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="store-model-"))
        self.store: Store = open_store(self.dir / "s", self.kind)
        self.model: dict[bytes, bytes] = {}

    @rule(key=KEYS, value=VALUES)
    def set(self, key: bytes, value: bytes) -> None:
        self.store[key] = value
        self.model[key] = value

    @rule(key=KEYS, use_del=st.booleans())
    def delete(self, key: bytes, use_del: bool) -> None:
        if use_del:
            if key in self.model:
                del self.store[key]
            else:
                with pytest.raises(KeyError):
                    del self.store[key]
        else:
            self.store.delete(key)
        self.model.pop(key, None)

    @rule(key=KEYS)
    def get(self, key: bytes) -> None:
        assert self.store.get(key) == self.model.get(key)
        assert self.store.exists(key) == (key in self.model)

    @rule(ops=OPS, fail=st.booleans())
    def batch(self, ops: list[tuple[str, bytes, bytes]], fail: bool) -> None:
        pending = dict(self.model)
        try:
            with self.store.atomic_batch() as batch:
                for op, key, value in ops:
                    if op == "set":
                        batch[key] = value
                        pending[key] = value
                    elif op == "del" and key in pending:
                        del batch[key]
                        del pending[key]
                    elif op == "del":
                        with pytest.raises(KeyError):
                            del batch[key]
                    elif op == "delete":
                        batch.delete(key)
                        pending.pop(key, None)
                    assert batch.get(key) == pending.get(key)
                    assert batch.exists(key) == (key in batch) == (key in pending)
                    assert self.store.get(key) == self.model.get(key)  # not visible outside yet
                if fail:
                    raise _Abort
        except _Abort:
            pass
        else:
            self.model = pending

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = open_store(self.dir / "s", self.kind)

    @invariant()
    def matches_model(self) -> None:
        assert {k: self.store[k] for k in self.store} == self.model

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_joined_batches_commit_once_and_only_on_success(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store[b"old"] = b"0"
    commits: list[int] = []
    apply = store._apply

    def counted(puts: Any, deletes: Any) -> None:
        commits.append(len(puts) + len(deletes))
        apply(puts, deletes)

    monkeypatch.setattr(store, "_apply", counted)
    seen_elsewhere: list[bytes | None] = []
    with store.joined_batches():
        with store.atomic_batch() as batch:
            batch[b"a"] = b"1"
        with store.atomic_batch() as batch:
            assert batch[b"a"] == b"1"  # the first batch, not committed yet, is seen by this thread
            batch[b"b"] = b"2"
            del batch[b"old"]
        store[b"c"] = b"3"
        with store.joined_batches():  # nested: joins
            store[b"d"] = b"4"
        assert (store[b"a"], store.get(b"b"), store.exists(b"c"), store.get(b"old")) == (b"1", b"2", True, None)
        other = threading.Thread(target=lambda: seen_elsewhere.append(store.get(b"a")))
        other.start()
        other.join()
        assert commits == []
    assert seen_elsewhere == [None]  # another thread sees nothing before the commit
    assert commits == [5]  # one commit: a, b, c, d and the delete
    assert [store.get(k) for k in (b"a", b"b", b"c", b"d", b"old")] == [b"1", b"2", b"3", b"4", None]

    with pytest.raises(RuntimeError), store.joined_batches():
        with store.atomic_batch() as batch:
            batch[b"e"] = b"5"
        raise RuntimeError("the block's execution failed")
    assert store.get(b"e") is None
    assert commits == [5]
    store[b"f"] = b"6"  # after the block, writes are direct again
    assert commits == [5, 1]


def test_store_matches_a_dict_model(kind: str) -> None:
    machine: type[StoreMachine] = type(f"{kind}Machine", (StoreMachine,), {"kind": kind})
    machine.TestCase.settings = settings(max_examples=30, stateful_step_count=15, deadline=None)
    machine.TestCase().runTest()


# -- opening, reopening, refusing ----------------------------------------------------------------------------


def test_data_survives_reopen(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "store"
    db = open_store(path, kind)
    db[b"single"] = b"s"
    with db.atomic_batch() as batch:
        for i in range(100):
            batch[b"k%d" % i] = b"v%d" % i
    db.close()
    db.close()  # idempotent
    assert db.closed
    with pytest.raises(StoreError, match="closed"):
        db[b"single"]
    with pytest.raises(StoreError, match="closed"):
        db[b"x"] = b"y"
    with open_store(path, kind) as again:
        assert again[b"single"] == b"s"
        assert all(again[b"k%d" % i] == b"v%d" % i for i in range(100))
        assert len(again) == 101


def test_second_opener_is_refused(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "store"
    with open_store(path, kind):
        with pytest.raises(StoreError, match=f"already open \\(pid {os.getpid()}\\)") as info:
            open_store(path, kind)
        assert isinstance(info.value, ChainError)
        child = subprocess.run(
            [sys.executable, "-c", _SECOND_OPENER, str(path), kind],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=child_env(),
            timeout=60,
        )
        assert child.returncode == 3, child.stderr
        assert "already open" in child.stdout
    with open_store(path, kind) as db:  # released on close
        db[b"x"] = b"y"


_SECOND_OPENER = """
import sys
from pathlib import Path
from chain.node.store import StoreError, open_store
try:
    open_store(Path(sys.argv[1]), sys.argv[2])
except StoreError as e:
    print(e)
    sys.exit(3)
"""


def test_refuses_what_is_not_its_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown store kind"):
        open_store(tmp_path / "x", "rocksdb")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a store directory"):
        open_store(tmp_path / "file")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        open_store(tmp_path / "busy")
    open_store(tmp_path / "s", "sqlite").close()
    with pytest.raises(StoreError, match="kind='sqlite'"):
        open_store(tmp_path / "s", "lmdb")


def _corrupt(kind: str, path: Path) -> None:
    if kind == "lmdb":
        target = path / "lmdb" / "data.mdb"
    elif kind == "sqlite":
        target = path / "store.sqlite"
    else:
        target = next((path / "leveldb").glob("MANIFEST-*"))
    with target.open("r+b") as f:
        f.write(random.Random(0).randbytes(16384))


def test_corrupt_store_gives_a_clear_error(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "store"
    with open_store(path, kind) as db:
        db[b"a"] = b"1"
    _corrupt(kind, path)
    for _ in range(2):  # the failed open let go of the lock: the second try fails the same way
        with pytest.raises(StoreError, match="restore it from a backup taken before"):
            open_store(path, kind)
    (path / "STORE").write_text("{not json")
    with pytest.raises(StoreError, match="unreadable store marker"):
        open_store(path, kind)


def test_threads_share_a_store(store: Store) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(30):
                with store.atomic_batch() as batch:
                    for j in range(10):
                        batch[b"t%d-%d-%d" % (t, i, j)] = b"x"
                assert store[b"t%d-%d-9" % (t, i)] == b"x"
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(store) == 4 * 30 * 10


# -- py-evm on the store -------------------------------------------------------------------------------------


class _Chain(MiningChain):
    vm_configuration = ((BlockNumber(0), PragueVM),)
    chain_id = 4242


def test_pyevm_chain_persists_across_reopen(kind: str, tmp_path: Path) -> None:
    key = PrivateKey(b"\x07" * 32)
    sender = Address(key.public_key.to_canonical_address())
    params: dict[str, Any] = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "timestamp": 1_700_000_000,
        "extra_data": b"",
        "nonce": b"\0" * 8,
        "mix_hash": b"\0" * 32,
        "coinbase": b"\0" * 20,
    }
    path = tmp_path / "store"
    with open_store(path, kind) as db:
        chain = _Chain.from_genesis(db, params, {sender: {"balance": 10**20, "nonce": 0, "code": b"", "storage": {}}})
        assert isinstance(chain, _Chain)
        for nonce in range(3):
            tx = PragueVM.create_unsigned_transaction(
                nonce=nonce, gas_price=10**10, gas=21_000, to=Address(b"\x99" * 20), value=5, data=b""
            ).as_signed_transaction(key, chain_id=4242)
            chain.mine_all([tx])
        head = chain.get_canonical_head()
    with open_store(path, kind) as db:
        again = _Chain(db)
        assert again.get_canonical_head() == head
        assert head.block_number == 3
        assert again.get_vm().state.get_balance(Address(b"\x99" * 20)) == 15


# -- kill -9 ----------------------------------------------------------------------------------------------------

_WRITER = """
import sys
from pathlib import Path
from chain.node.store import open_store
db = open_store(Path(sys.argv[1]), sys.argv[2])
i = int(db[b"last"]) + 1 if b"last" in db else 0
print("start", i, flush=True)
while True:
    with db.atomic_batch() as batch:
        for j in range(100):
            batch[b"k_%d_%d" % (i, j)] = b"value %d %d " % (i, j) * 20
        batch[b"last"] = b"%d" % i
    print(i, flush=True)
    i += 1
"""
KILLS = 3
DEADLINE_S = 30.0


def _write_until_killed(path: Path, kind: str, batches: int) -> tuple[int, list[int]]:
    """Start the writer, kill -9 it once it has reported ``batches`` batches; its start and every i it printed."""
    lines = run_until_killed(
        _WRITER, [str(path), kind], lambda got: len(got) > batches, "the writer", DEADLINE_S
    )  # its start line, then a line a batch
    assert lines[0].startswith("start")
    return int(lines[0].split()[1]), [int(line) for line in lines[1:]]


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_kill_9_leaves_whole_batches(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "store"
    rng = random.Random()
    expected_next = 0
    for _ in range(KILLS):
        start, printed = _write_until_killed(path, kind, rng.randint(1, 25))
        assert start == expected_next, "the writer resumed after the last committed batch"
        assert printed == list(range(start, start + len(printed)))
        with open_store(path, kind) as db:
            last = int(db[b"last"])
            assert last >= printed[-1], f"batch {printed[-1]} was reported committed but is not there"
            assert last <= printed[-1] + 1  # at most the batch in flight was committed but not reported
            for i in range(last + 3):
                present = [db.exists(b"k_%d_%d" % (i, j)) for j in range(100)]
                if i <= last:
                    assert all(present), f"batch {i} is partly missing"
                    assert db[b"k_%d_%d" % (i, 99)] == b"value %d 99 " % i * 20
                else:
                    assert not any(present), f"batch {i} is partly present"
            assert len(db) == (last + 1) * 100 + 1
        expected_next = last + 1
