"""CPU seconds per transaction in each step of QBFT, with four validators and a follower in one process.

``python -m bench.qbft_cpu`` deploys the consortium's contracts on five nodes (four validators, one follower, each
with its own store), then drives blocks of ``--block`` pre-signed contract transactions (a third each: register
an asset, create a grant, anchor a checkpoint) through what each node does per block: admitting the
transactions (the operator's node from the client, the others as gossip), building the proposal (the proposer),
validating it by re-executing it (the other validators), signing, encoding, decoding and checking the QBFT
messages (PROPOSAL, PREPARE, COMMIT, the commit seals), keeping what it signs, looking for equivocations,
appending the decided block (its seals checked), serving it to the follower, and the follower's fetch, seal
check, execution and append.

The nodes are the real ones (``chain.node.consensus.Consensus`` over ``chain.node.node.Node`` on LMDB stores, or
in memory with ``--memory``), stepped in turn by one thread with a clock the harness owns, with messages handed
from one node's send to the others' inbox as a peer link would (no sockets, no HTTP, no JSON): the round timer
never expires, so every height is decided in round 0 and the figures hold only the work. CPU is
``time.process_time`` (the whole process: the nodes' work only, nothing else runs while the blocks are driven),
summed per role (the height's proposer, the other validators, the follower) and per step; the steps are nested
(a proposal's validation includes its execution), so a step's figure includes the steps under it. With
``--cprofile DIR`` each role's work is also profiled (``DIR/<role>.pstats``, CPU time).

Figures go to stdout (ms of CPU per transaction, per node of each role) and, with ``--output``, to a JSON file.
Last, the CPU of one QBFT message posted to a peer server over HTTP (:func:`http_message_cpu`), which the harness
leaves out. ``docs/consensus.md`` ("How fast, today") has the figures and what they led to.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import gc
import http.client
import json
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import rlp
from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_keys.datatypes import PrivateKey

from bench.chain import CHAIN_ID, DIGEST, _mixed_calls, _sign
from chain.backend import RpcBackend
from chain.contracts import FoundingMember, deploy_consortium
from chain.errors import MalformedError
from chain.ids import AssetKind, OrgId, Role
from chain.node import blocks, consensus
from chain.node.consensus import Consensus
from chain.node.equivocations import EquivocationLog
from chain.node.node import Genesis, Node, TransactionRefusedError
from chain.node.peers import MESSAGE_PATH, Handlers, PeerServer
from chain.node.signed import SignedLog, mark_new
from chain.node.store import open_store
from chain.qbft import machine
from chain.qbft import messages as m
from chain.qbft.block import QbftBlock
from chain.qbft.evidence import EquivocationDetector
from chain.qbft.rules import RoundTimer, proposer
from chain.tx import Signer, fee_fields

ORGS = ("op", "alpha", "beta", "gamma")
GENESIS_TIME = 1_800_000_000
ROLES = ("proposer", "validator", "follower")


class Clock:
    """The harness's time: it moves only when the harness moves it (the nodes never time out a round)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Meter:
    """CPU seconds (``time.process_time``) and calls per (role, step), for the role whose work runs now."""

    def __init__(self) -> None:
        self.role = "setup"
        self.on = False
        self.cpu: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.profiles: dict[str, cProfile.Profile] | None = None
        self._undo: list[Callable[[], None]] = []

    @contextlib.contextmanager
    def acting(self, role: str) -> Iterator[None]:
        before, self.role = self.role, role
        profile = self.profiles.get(role) if self.profiles is not None and self.on else None
        if profile is not None:
            profile.enable()
        try:
            yield
        finally:
            if profile is not None:
                profile.disable()
            self.role = before

    def wrap(self, owner: Any, name: str, step: str, kind: str = "function") -> None:
        """Count the CPU of ``owner.name`` under ``step`` (a class's method or a module's function)."""
        where = next(k for k in getattr(owner, "__mro__", (owner,)) if name in k.__dict__)
        original = where.__dict__[name]
        inner = original.__func__ if kind in ("classmethod", "staticmethod") else original

        @functools.wraps(inner)
        def metered(*args: Any, **kwargs: Any) -> Any:
            if not self.on:
                return inner(*args, **kwargs)
            key = (self.role, step)
            started = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self.cpu[key] += time.process_time() - started
                self.calls[key] += 1

        replacement: Any = metered
        if kind == "classmethod":
            replacement = classmethod(metered)
        elif kind == "staticmethod":
            replacement = staticmethod(metered)
        setattr(owner, name, replacement)
        if where is owner:
            self._undo.append(lambda: setattr(owner, name, original))
        else:
            self._undo.append(lambda: delattr(owner, name))

    def undo(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


class GcMeter:
    """CPU seconds (``time.process_time``) and count of the garbage collector's collections, by generation,
    while ``on`` (``gc.callbacks``): they fall inside whichever step allocated, so the steps include them."""

    def __init__(self) -> None:
        self.on = False
        self.cpu = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._started = time.process_time()
        else:
            self.cpu[info["generation"]] += time.process_time() - self._started
            self.count[info["generation"]] += 1


#: (owner, attribute, step, kind): what is metered, each where its callers look it up.
def _metered(store_class: type) -> list[tuple[Any, str, str, str]]:
    return [
        (consensus.Consensus, "step", "total (consensus loop)", "function"),
        (Node, "submit", "admit transactions", "function"),
        (blocks.NodeBlocks, "create", "propose: create", "function"),
        (blocks, "build", "propose: create: build (execute)", "function"),
        (blocks.NodeBlocks, "is_valid", "validate proposal", "function"),
        (blocks, "decode_block", "decode block (sedes)", "function"),
        (consensus, "decode_block", "decode block (sedes)", "function"),
        (blocks, "_run", "execute transactions (_run)", "function"),
        (blocks, "append", "append decided block", "function"),
        (consensus, "append", "append decided block", "function"),
        (blocks, "verify_seals", "append: verify seals", "function"),
        (store_class, "persist_block", "append: persist block", "function"),
        (m, "decode", "message: decode + recover author", "function"),
        (m, "encode", "message: encode", "function"),
        (m, "_signed", "message: sign", "function"),
        (QbftBlock, "decode", "QbftBlock.decode", "classmethod"),
        (machine.Height, "_seal_ok", "commit seal: recover", "function"),
        (SignedLog, "keep", "signed log: keep", "function"),
        (EquivocationDetector, "observe_all", "equivocation: observe", "function"),
        (EquivocationLog, "save", "equivocation: save", "function"),
        (PeerServer, "blocks_from", "serve blocks to a peer", "function"),
    ]


class Network:
    """Four validators and a follower, stepped by hand, with messages passed between them in memory."""

    def __init__(self, keys: list[PrivateKey], follower: PrivateKey, memory: bool, meter: Meter) -> None:
        self.clock = Clock()
        self.meter = meter
        self.directory = Path(tempfile.mkdtemp(prefix="bench-qbft-cpu-"))
        self.stores: list[Any] = []
        genesis = Genesis(
            CHAIN_ID,
            tuple(k.public_key.to_checksum_address() for k in keys),
            keys[0].public_key.to_checksum_address(),
            GENESIS_TIME,
        )
        self.nodes: list[Node] = []
        self.loops: list[Consensus] = []
        self.outbox: list[tuple[int, int, bytes]] = []
        self.gossip: list[bytes] = []
        for i, key in enumerate([*keys, follower]):
            if memory:
                db: Any = AtomicDB()
            else:
                db = open_store(self.directory / f"node{i}")
                self.stores.append(db)
            mark_new(db)  # a new consortium's directory: the record of what it signs starts empty, not fresh
            node = Node(db, genesis, clock=lambda: GENESIS_TIME + self.clock.now)
            loop = Consensus(
                node,
                key,
                functools.partial(self._send, i),
                fetch=functools.partial(self._fetch, i),
                period=1.0,
                timer=RoundTimer(base=3600.0, cap=3600.0),
                clock=self.clock,
                build_time=1e9,
            )
            loop.peer_at(0)  # its peers' statuses: all at the genesis (its record is checked against them)
            self.nodes.append(node)
            self.loops.append(loop)
        self._gossip_lock = threading.Lock()
        self.nodes[0].on_submit = self._gossiped
        self.servers = [PeerServer(n, Handlers(lambda c, b: True, lambda r: None, dict)) for n in self.nodes]
        self.validators = sorted(bytes(k.public_key.to_canonical_address()) for k in keys)
        self.lock = threading.Lock()

    def close(self) -> None:
        for store in self.stores:
            store.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _gossiped(self, raw: bytes) -> None:
        with self._gossip_lock:
            self.gossip.append(raw)

    def _send(self, sender: int, code: int, body: bytes) -> None:
        self.outbox.append((sender, code, body))

    def role(self, i: int) -> str:
        if i == len(self.nodes) - 1:
            return "follower"
        head = self.nodes[i].head()
        first = proposer(self.validators, bytes(head.coinbase), 0)
        return "proposer" if first == self.loops[i].me else "validator"

    def _fetch(self, asking: int, first: int) -> list[bytes]:
        """What ``PeerLinks.fetch_blocks`` returns: the first other node's sealed blocks from ``first``, served as
        its peer server serves them (the serving node's CPU counted under its role)."""
        for j, node in enumerate(self.nodes):
            if j == asking or node.head().block_number < first:
                continue
            with self.meter.acting(self.role(j)):
                body = self.servers[j].blocks_from(first)
            with self.meter.acting(self.role(asking)):
                return [bytes(raw) for raw in rlp.decode(body)]
        return []

    def admit(self) -> None:
        """Gossip the operator's new transactions to the other nodes (each one its own peer request, as
        ``POST /qbft/v1/transactions`` passes them one by one to ``Node.submit``)."""
        with self._gossip_lock:
            raws, self.gossip = self.gossip, []
        for i, node in enumerate(self.nodes[1:], start=1):
            with self.meter.acting(self.role(i)):
                for raw in raws:
                    with contextlib.suppress(TransactionRefusedError, MalformedError):
                        node.submit(raw, gossip=False, hold=True)

    def turn(self) -> bool:
        """Each node's loop takes the messages waiting for it and lets the time act; then what they sent goes to
        the others. Whether anything happened."""
        with self.lock:
            self.admit()
            heads = [n.head().block_number for n in self.nodes]
            for i, loop in enumerate(self.loops):
                with self.meter.acting(self.role(i)):
                    while not loop.inbox.empty():
                        loop.step(wait=0)
                    loop.step(wait=0)
            out, self.outbox = self.outbox, []
            for sender, code, body in out:
                for j, loop in enumerate(self.loops):
                    if j != sender:
                        loop.deliver(code, body)
            return bool(out) or heads != [n.head().block_number for n in self.nodes]

    def run_until(self, done: Callable[[], bool], limit: int = 100_000) -> None:
        for _ in range(limit):
            if done():
                return
            if not self.turn():
                self.clock.now += 0.1
        raise RuntimeError("the network made no progress")

    def heads(self) -> list[int]:
        return [int(n.head().block_number) for n in self.nodes]


@contextlib.contextmanager
def serving(network: Network) -> Iterator[RpcBackend]:
    """The operator's node over JSON-RPC on loopback, while a thread keeps the network turning: for deploying
    the contracts and preparing the transactions, not measured."""
    from chain.node.rpc import RpcServer

    server = RpcServer(network.nodes[0], port=0)
    server.start()
    stop = threading.Event()

    def keep_turning() -> None:
        while not stop.is_set():
            if not network.turn():
                network.clock.now += 0.1
                time.sleep(0.002)

    thread = threading.Thread(target=keep_turning, daemon=True)
    thread.start()
    try:
        yield RpcBackend(server.url)
    finally:
        stop.set()
        thread.join()
        server.stop()


def http_message_cpu(requests: int = 1000) -> float:
    """ms of CPU (client and server, one process) per QBFT message posted to a peer server over a keep-alive HTTP
    connection, as a peer link sends one: what the harness, which hands messages over in memory, leaves out."""
    key = PrivateKey(b"\x01" * 32)
    address = key.public_key.to_checksum_address()
    node = Node(AtomicDB(), Genesis(CHAIN_ID, (address,), address, GENESIS_TIME))
    server = PeerServer(node, Handlers(lambda code, body: True, lambda raw: None, dict))
    server.start()
    code, body = m.encode(m.prepare(key, 5, 0, b"\x11" * 32))
    connection = http.client.HTTPConnection("127.0.0.1", server.port)
    try:
        for i in range(requests + 50):
            if i == 50:
                started = time.process_time()
            connection.request("POST", MESSAGE_PATH, bytes([code]) + body, {"Content-Type": "application/octet-stream"})
            answer = connection.getresponse()
            answer.read()
            if answer.status != 202:
                raise RuntimeError(f"the peer server answered {answer.status}")
        return 1000 * (time.process_time() - started) / requests
    finally:
        connection.close()
        server.stop()


def deployed(meter: Meter, memory: bool, total: int) -> tuple[Network, list[str]]:
    """The network with the consortium's contracts deployed and each member's base asset registered, and
    ``total`` pre-signed contract transactions (raw, hex) of the benchmark's mix on its head, not sent."""
    accounts = {org: Account.create() for org in ORGS}
    keys = [PrivateKey(bytes(accounts[org].key)) for org in ORGS]
    network = Network(keys, PrivateKey(bytes(Account.create().key)), memory, meter)
    try:
        signers = {org: Signer(account=accounts[org]) for org in ORGS}
        with serving(network) as backend:
            founders = [
                FoundingMember(OrgId("op"), "Operator", Role.MEMBER | Role.OPERATOR | Role.NOTARY, DIGEST,
                               (signers["op"].address,)),
                *[FoundingMember(OrgId(o), o.title(), Role.MEMBER, DIGEST, (signers[o].address,))
                  for o in ORGS[1:]],
            ]  # fmt: skip
            deployment = deploy_consortium(backend, signers["op"], founders, threshold=2)
            assets = deployment.assets(backend)
            for owner in ORGS[1:]:
                assets.register_asset(signers[owner], f"b-base-{owner}", AssetKind.FEED, DIGEST, DIGEST, 2)
            now = int(backend.web3.eth.get_block("latest")["timestamp"])
            calls = _mixed_calls(deployment, backend, signers, total, now, "q")
            gas = {}
            for signer, to, data, kind in calls[:3]:
                gas[kind] = int(backend.web3.eth.estimate_gas({"from": signer.address, "to": to, "data": data})) * 2  # type: ignore[typeddict-item]
            raws, _ = _sign(backend, calls, gas, fee_fields(backend))
    except BaseException:
        network.close()
        raise
    return network, raws


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--block", type=int, default=100, help="transactions per block")
    parser.add_argument("--blocks", type=int, default=5, help="blocks measured")
    parser.add_argument("--memory", action="store_true", help="in-memory stores instead of LMDB")
    parser.add_argument("--cprofile", type=Path, help="write each role's profile (CPU time) to DIR/<role>.pstats")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once the contracts are deployed, as a node process does once it has started",
    )
    args = parser.parse_args(argv)

    meter = Meter()
    network, raws = deployed(meter, args.memory, args.block * args.blocks)
    try:
        network.run_until(lambda: len(set(network.heads())) == 1 and not network.outbox)
        start = network.heads()[0]

        if args.cprofile is not None:
            args.cprofile.mkdir(parents=True, exist_ok=True)
            meter.profiles = {role: cProfile.Profile(time.process_time) for role in ROLES}
        for owner, name, step, kind in _metered(type(network.nodes[0].chain.chaindb)):
            meter.wrap(owner, name, step, kind)
        if args.gc_freeze:
            gc.freeze()
        collections = GcMeter()
        gc.callbacks.append(collections)
        per_block: list[float] = []
        meter.on = collections.on = True
        for b in range(args.blocks):
            target = start + b + 1
            cpu = time.process_time()
            with meter.acting("proposer" if network.role(0) == "proposer" else "validator"):
                for raw in raws[b * args.block : (b + 1) * args.block]:
                    network.nodes[0].submit(bytes.fromhex(raw[2:]))
            network.run_until(lambda t=target: min(network.heads()) >= t)  # type: ignore[misc]
            per_block.append(time.process_time() - cpu)
            block = network.nodes[-1].block_by_number(target)
            if block is None or len(block.transactions) != args.block:
                got = None if block is None else len(block.transactions)
                raise RuntimeError(f"block {target} holds {got} transactions, not {args.block}")
        meter.on = collections.on = False
        gc.callbacks.remove(collections)
        meter.undo()
        network.run_until(lambda: not network.outbox, limit=10)
        chains = {bytes(n.head().hash) for n in network.nodes}
        if len(chains) != 1:
            raise RuntimeError("the nodes' heads differ")
        for i, node in enumerate(network.nodes):
            for number in range(start + 1, start + args.blocks + 1):
                receipt_block = node.block_by_number(number)
                assert receipt_block is not None
                failed = [r for r in receipt_block.get_receipts(node.chain.chaindb) if r.state_root != b"\x01"]
                if failed:
                    raise RuntimeError(f"node {i}: block {number} holds {len(failed)} failed transactions")
    finally:
        network.close()

    n_tx = args.block * args.blocks
    # nodes per role per block: one proposer, three other validators, one follower
    nodes_of = {"proposer": 1, "validator": 3, "follower": 1}
    steps = sorted({step for _, step in meter.cpu}, key=lambda s: [k[2] for k in _metered(object)].index(s))
    figures: dict[str, dict[str, Any]] = {}
    print(f"{n_tx} transactions in {args.blocks} blocks of {args.block}; ms of CPU per transaction, per node")
    print(f"{'step (inclusive)':45}" + "".join(f"{r:>11}" for r in ROLES) + "  calls/block (validator)")
    for step in steps:
        row = {r: 1000 * meter.cpu.get((r, step), 0.0) / n_tx / nodes_of[r] for r in ROLES}
        figures[step] = {"ms_per_tx": {r: round(v, 4) for r, v in row.items()},
                         "calls_per_block": {r: meter.calls.get((r, step), 0) / args.blocks / nodes_of[r]
                                             for r in ROLES}}  # fmt: skip
        calls = figures[step]["calls_per_block"]["validator"]
        print(f"{step:45}" + "".join(f"{row[r]:>11.3f}" for r in ROLES) + f"  {calls:>10.1f}")
    whole = 1000 * sum(per_block) / n_tx
    print(f"whole network, all five nodes: {whole:.3f} ms of CPU per transaction "
          f"({n_tx / sum(per_block):.1f} tx per CPU second)")  # fmt: skip
    gc_ms = [1000 * c / n_tx for c in collections.cpu]
    by_generation = " / ".join(f"{v:.3f}" for v in gc_ms)
    print(f"of which garbage collection{' (frozen after start-up)' if args.gc_freeze else ''}: "
          f"{sum(gc_ms):.3f} ms per transaction, all five nodes (generations 0/1/2: {by_generation} ms; "
          f"{' / '.join(map(str, collections.count))} collections)")  # fmt: skip
    http_ms = http_message_cpu()
    print(f"a QBFT message posted to a peer over HTTP (not in the figures above): {http_ms:.3f} ms of CPU, "
          "client and server together")  # fmt: skip
    if args.cprofile is not None and meter.profiles is not None:
        for role, profile in meter.profiles.items():
            profile.dump_stats(str(args.cprofile / f"{role}.pstats"))
    if args.output is not None:
        document = {"transactions": n_tx, "block": args.block, "blocks": args.blocks,
                    "network_ms_per_tx": round(whole, 4), "steps": figures,
                    "http_message_ms": round(http_ms, 4), "gc_freeze": args.gc_freeze,
                    "gc_ms_per_tx": [round(v, 4) for v in gc_ms], "gc_collections": collections.count}  # fmt: skip
        args.output.write_text(json.dumps(document, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
