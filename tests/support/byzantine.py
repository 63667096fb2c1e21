"""An equivocating QBFT validator as a process of its own, for tests against real ``consortium node`` processes.

``python -m tests.support.byzantine ROOT --org ORG --chain-dir DIR --peer-port P --peer URL... --peer-cert C
--peer-key K --peer-ca CA``, the account key's passphrase in ``CONSORTIUM_PASSPHRASE`` as for ``consortium node``.

It holds the org's validator key and its peer certificate, and listens where the other nodes expect that
validator's peer server (``chain.node.peers``, mutual TLS), so it hears their messages and transactions. It
follows the chain in memory, fetching each block they decide and appending it as a node does
(``chain.node.blocks.append``: seals checked, transactions re-executed). It never votes honestly; it misbehaves,
with the project's own encoders (``chain.qbft.messages``):

- at a height whose round-0 proposer it is, it builds one block per peer with the node's block building code
  (``NodeBlocks.create``), each with another timestamp, and sends each peer a PROPOSAL of its own block; then
  a PREPARE and a COMMIT (its seal valid) for every one of those blocks to every peer;
- when it hears a ROUND-CHANGE for a round of the height it is at, it sends ROUND-CHANGEs for that round with
  forged or stale prepared certificates: its own block with the prepares it heard for it and its own (short of
  a quorum), its own block with its own prepare three times, and the head block (the previous height) with the
  prepares that did prepare it.

Each act is one JSON line on stdout. SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import rlp
from eth.db.atomic import AtomicDB
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_checksum_address

from chain.errors import ChainError, MalformedError
from chain.ids import OrgId
from chain.node.blocks import NodeBlocks, append, decode_block
from chain.node.node import Node
from chain.node.peers import Handlers, PeerLinks, PeerServer, tls_contexts
from chain.node.service import load_genesis
from chain.qbft import messages as m
from chain.qbft.block import QbftBlock
from chain.qbft.rules import proposer, quorum
from chain.seal import extra_data
from network.identity import load_account_key

#: Seconds between two fetches while a peer is known to hold a block this process lacks.
FETCH_EVERY_S = 0.1


def say(act: str, **fields: object) -> None:
    print(json.dumps({"act": act, **fields}), flush=True)


class Byzantine:
    def __init__(
        self,
        node: Node,
        key: PrivateKey,
        port: int,
        peers: Sequence[str],
        tls: tuple[ssl.SSLContext, ssl.SSLContext],
    ) -> None:
        self.node, self.key = node, key
        handlers = Handlers(self.deliver, self.gossiped, self.status)
        self.server = PeerServer(node, handlers, port=port, ssl_context=tls[0])
        self.links = [PeerLinks([url], tls[1]) for url in peers]  # one per peer: each may get its own message
        self.me = bytes(key.public_key.to_canonical_address())
        self.blocks = NodeBlocks(node, self.me)
        self.inbox: queue.Queue[tuple[int, bytes]] = queue.Queue(10_000)
        self.target = 0  # the highest block a peer's message shows decided (or about to be)
        self.next_fetch = 0.0
        self.heard: dict[tuple[int, bytes], list[m.Prepare]] = {}  # (height, digest) → peers' PREPAREs
        self.mine: dict[int, tuple[int, QbftBlock]] = {}  # height → the first block it proposed, and its round
        self.round_changes: dict[tuple[int, int], dict[bytes, m.RoundChange]] = {}  # (height, round) → peers'
        self.proposed: set[tuple[int, int]] = set()
        self.forged: set[tuple[int, int]] = set()

    # -- the peer server's handlers (its threads) --------------------------------------------------------------

    def deliver(self, code: int, body: bytes) -> bool:
        try:
            self.inbox.put_nowait((code, body))
        except queue.Full:
            return False
        return True

    def gossiped(self, raw: bytes) -> None:
        self.node.submit(raw, gossip=False, hold=True)

    def status(self) -> dict[str, object]:
        head = int(self.node.head().block_number)
        return {"address": to_checksum_address(self.me), "head": head, "height": head + 1, "validator": True}

    # -- the loop ----------------------------------------------------------------------------------------------

    @property
    def height(self) -> int:
        return int(self.node.head().block_number) + 1

    def run(self, stop: threading.Event) -> None:
        self.server.start()
        for links in self.links:
            links.start()
        say("started", address=to_checksum_address(self.me), peer_url=self.server.url)
        try:
            while not stop.is_set():
                self.follow()
                self.read(time.monotonic() + 0.05)
                self.equivocate()
        finally:
            for links in self.links:
                links.stop()
            self.server.stop()

    def follow(self) -> None:
        """Fetch and append the blocks peers decided, while a message shows one this process lacks."""
        if self.target < self.height or time.monotonic() < self.next_fetch:
            return
        self.next_fetch = time.monotonic() + FETCH_EVERY_S
        for links in self.links:
            raws = links.fetch_blocks(self.height)
            for raw in raws:
                try:
                    append(self.node, decode_block(raw))
                except (ChainError, MalformedError) as exc:
                    say("refused", reason=str(exc))
                    return
            if raws:
                break
        self.heard = {k: v for k, v in self.heard.items() if k[0] >= self.height - 1}  # what is past is no use
        self.round_changes = {k: v for k, v in self.round_changes.items() if k[0] >= self.height}

    def read(self, until: float) -> None:
        while (left := until - time.monotonic()) > 0:
            try:
                code, body = self.inbox.get(timeout=left)
            except queue.Empty:
                return
            try:
                message = m.decode(code, body)
            except MalformedError:
                continue
            # a COMMIT for a height: it may be decided already; any other message: the height before it is
            self.target = max(self.target, message.height - (0 if isinstance(message, m.Commit) else 1))
            if isinstance(message, m.Prepare) and message.height + 1 >= self.height:
                self.heard.setdefault((message.height, message.digest), []).append(message)
            elif isinstance(message, m.RoundChange) and message.height == self.height and message.round >= 1:
                self.round_changes.setdefault((message.height, message.round), {})[message.author] = message
                self.forge_round_changes(message.height, message.round)

    def equivocate(self) -> None:
        """In each round of the current height it proposes: a different block to each peer (for a later round,
        justified by the peers' own ROUND-CHANGEs), and votes for all of them to everyone."""
        head = self.node.head()
        height = int(head.block_number) + 1
        if self.target >= height:  # not at the peers' height yet
            return
        validators = sorted(extra_data(head).validators)
        heard = {
            r: rcs for (h, r), rcs in self.round_changes.items() if h == height and len(rcs) >= quorum(len(validators))
        }
        for round_ in [0, *sorted(heard)]:
            if (height, round_) in self.proposed or proposer(validators, bytes(head.coinbase), round_) != self.me:
                continue
            self.proposed.add((height, round_))
            rcs = tuple(sorted(heard.get(round_, {}).values(), key=lambda rc: rc.author))
            best = max((rc for rc in rcs if rc.block is not None), key=lambda rc: rc.prepared_round or 0, default=None)
            if best is not None and best.block is not None:  # a prepared block must be proposed: votes only
                blocks = [best.block.with_round(round_)] * len(self.links)
            else:
                blocks = self.blocks_for(round_, int(head.timestamp))
            self.mine.setdefault(height, (round_, blocks[0]))
            prepares = () if best is None else best.prepares
            for links, block in zip(self.links, blocks, strict=True):
                links.broadcast(*m.encode(m.proposal(self.key, block, round_, rcs, prepares)))
            for block in {b.hash: b for b in blocks}.values():
                self.everyone(m.prepare(self.key, height, round_, block.hash))
                self.everyone(m.commit(self.key, block, round_))
            say("equivocated", height=height, round=round_, blocks=["0x" + b.hash.hex() for b in blocks])

    def blocks_for(self, round_: int, parent_timestamp: int) -> list[QbftBlock]:
        """One block per peer, built as a node builds, each with another timestamp."""
        base = max(int(time.time()), parent_timestamp + 1)
        blocks = []
        for i in range(len(self.links)):
            self.node.clock = lambda i=i: float(base + i)  # type: ignore[misc]  # the timestamp it builds with
            blocks.append(self.blocks.create(round_))
        self.node.clock = time.time
        return blocks

    def forge_round_changes(self, height: int, round_: int) -> None:
        if (height, round_) in self.forged:
            return
        self.forged.add((height, round_))
        forged: list[m.RoundChange] = []
        if height in self.mine:
            pr, block = self.mine[height]
            own = m.prepare(self.key, height, pr, block.hash)
            heard = tuple(p for p in self.heard.get((height, block.hash), []) if p.round == pr)
            forged.append(m.round_change(self.key, height, round_, (pr, block, (own, *heard))))
            forged.append(m.round_change(self.key, height, round_, (pr, block, (own, own, own))))
        previous = self.node.block_by_number(height - 1)
        if previous is not None:
            stale = QbftBlock.decode(rlp.encode(previous))
            prepares = self.heard.get((height - 1, stale.hash), [])
            if prepares:
                pr = prepares[0].round
                kept = tuple(p for p in prepares if p.round == pr)
                forged.append(m.round_change(self.key, height, round_, (pr, stale, kept)))
        for rc in forged:
            self.everyone(rc)
        say("forged round changes", height=height, round=round_, count=len(forged))

    def everyone(self, message: m.Message) -> None:
        code, body = m.encode(message)
        for links in self.links:
            links.broadcast(code, body)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.byzantine")
    parser.add_argument("root", type=Path)
    parser.add_argument("--org", required=True)
    parser.add_argument("--chain-dir", type=Path, required=True)
    parser.add_argument("--peer-port", type=int, required=True)
    parser.add_argument("--peer", action="append", default=[])
    parser.add_argument("--peer-cert", required=True)
    parser.add_argument("--peer-key", required=True)
    parser.add_argument("--peer-ca", required=True)
    args = parser.parse_args(argv)
    key = PrivateKey(load_account_key(args.root, OrgId(args.org), os.environ["CONSORTIUM_PASSPHRASE"].encode()))
    genesis, _ = load_genesis(args.chain_dir)
    node = Node(AtomicDB(), genesis)
    tls = tls_contexts(args.peer_cert, args.peer_key, args.peer_ca)
    byzantine = Byzantine(node, key, args.peer_port, args.peer, tls)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    byzantine.run(stop)
    say("stopped", head=int(node.head().block_number))
    sys.exit(0)


if __name__ == "__main__":
    main()
