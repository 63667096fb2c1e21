"""``ChainWitnessKeys`` keeps its answer for a block under the block's hash (``network.witnesskeys``): a second
lookup of the same block reads only that block's header, no contract; a block replaced at the same height (the
chain reverted to a snapshot, then another transaction mined) has another hash and is read again; the cache
holds at most its size; records read again make a kept answer stale. On the in-process py-evm chain (eth-tester),
every JSON-RPC request web3 makes of it counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3.types import Wei

from chain.backend import EthTesterBackend
from chain.contracts import KeyKind
from chain.ids import OrgId
from chain.trustview import TrustView
from network.logsetup import log_origin
from network.witnesskeys import ANCHOR_RECHECK_S, ChainWitnessKeys, WitnessKeysError
from notary.logsuite import public_bytes
from tests.support.consortium import Consortium, described, revert_to_snapshot, take_snapshot
from tests.support.rpc_count import counted_requests

pytestmark = pytest.mark.parametrize("backend", [pytest.param("eth-tester")], indirect=True)

PASS = b"witness-key-cache"


@pytest.fixture
def requests(consortium: Consortium) -> Iterator[Counter[str]]:
    """The JSON-RPC methods the chain's provider is asked, by count (reset by the test as it goes)."""
    assert isinstance(consortium.backend, EthTesterBackend)
    with counted_requests(consortium.backend) as seen:
        yield seen


def transfer(c: Consortium, wei: int) -> int:
    """A plain transfer mined into a block of its own (eth-tester's); that block's number."""
    web3 = c.backend.web3
    tx = web3.eth.send_transaction({"from": web3.eth.accounts[0], "to": c.outsider.address, "value": Wei(wei)})
    return int(web3.eth.wait_for_transaction_receipt(tx)["blockNumber"])


def test_a_block_kept_by_its_hash_is_not_read_again_and_a_replaced_one_is(
    consortium: Consortium, tmp_path: Path, requests: Counter[str]
) -> None:
    c = consortium
    description = described(c, tmp_path, "cache", PASS)
    c.trust.add_key(c.signers["op"], KeyKind.LOG_KEY, public_bytes(_notary_key(tmp_path)))
    view = TrustView(c.backend, c.trust.address)
    view.refresh()
    keys = ChainWitnessKeys(description, c.backend, view=view)

    before = take_snapshot(c.backend)
    block = transfer(c, 1)
    first_hash = bytes(c.backend.web3.eth.get_block(block)["hash"])
    requests.clear()
    first = keys.at_block(block)
    assert requests["eth_call"] >= 3, requests  # org_count, org_at per org, follow_state
    assert first.block == block and first.log_keys is not None

    requests.clear()
    again = keys.at_block(block)
    assert again is first
    assert dict(requests) == {"eth_getBlockByNumber": 1}, requests  # its hash; no contract read

    # the chain reverted to before that block, and another transaction mined at the same height
    revert_to_snapshot(c.backend, before)
    assert transfer(c, 2) == block
    assert bytes(c.backend.web3.eth.get_block(block)["hash"]) != first_hash
    requests.clear()
    replaced = keys.at_block(block)
    assert replaced is not first and replaced.keys == first.keys  # the same records: the same answer, read again
    assert replaced.log_keys is not None and first.log_keys is not None
    assert [k.key_id for k in replaced.log_keys.keys] == [k.key_id for k in first.log_keys.keys]
    assert requests["eth_call"] >= 3, requests
    requests.clear()
    assert keys.at_block(block) is replaced and requests["eth_call"] == 0

    # anchored or not is part of what is kept: the same block as an anchor's is another answer
    requests.clear()
    anchored = keys.at_block(block, anchored=True)
    assert anchored.anchored and requests["eth_call"] >= 3


def test_the_cache_holds_at_most_its_size_and_new_records_make_it_stale(
    consortium: Consortium, tmp_path: Path, requests: Counter[str]
) -> None:
    c = consortium
    description = described(c, tmp_path, "cache", PASS)
    with pytest.raises(WitnessKeysError, match="at least one block"):
        ChainWitnessKeys(description, c.backend, cache_size=0)
    c.trust.add_key(c.signers["op"], KeyKind.LOG_KEY, public_bytes(_notary_key(tmp_path)))
    view = TrustView(c.backend, c.trust.address)
    view.refresh()
    keys = ChainWitnessKeys(description, c.backend, view=view, cache_size=1)
    a, b = transfer(c, 1), transfer(c, 2)
    kept_a = keys.at_block(a)
    requests.clear()
    assert keys.at_block(a) is kept_a and requests["eth_call"] == 0
    keys.at_block(b)  # pushes a out
    requests.clear()
    assert keys.at_block(a) is not kept_a and requests["eth_call"] >= 3

    # a record added: the view reads the directory again, and the kept answer is not served under new records
    kept = keys.at_block(a)
    c.trust.add_key(c.signers["op"], KeyKind.LOG_KEY, bytes(range(32)))
    view.refresh()
    requests.clear()
    fresh = keys.at_block(a)
    assert fresh is not kept and requests["eth_call"] >= 3
    assert fresh.log_keys is not None and kept.log_keys is not None
    assert len(fresh.log_keys.keys) == len(kept.log_keys.keys) + 1


def test_a_checkpoints_anchor_block_is_kept_by_size_until_that_block_is_replaced(
    consortium: Consortium, tmp_path: Path, requests: Counter[str]
) -> None:
    """The explorer asks the keys of a call's checkpoint at every provenance answer: once its anchor's block is
    known, nothing is read for ANCHOR_RECHECK_S seconds, then only that block's hash; a chain on which that block
    was replaced (reverted, the checkpoint anchored again in a later block) has AuditAnchor asked again at the next
    read of the hash, and a chain shorter than that block too."""
    c = consortium
    description = described(c, tmp_path, "cache", PASS)
    op = c.signers["op"]
    c.trust.add_key(op, KeyKind.LOG_KEY, public_bytes(_notary_key(tmp_path)))
    view = TrustView(c.backend, c.trust.address)
    view.refresh()
    now = [100.0]
    keys = ChainWitnessKeys(description, c.backend, view=view, clock=lambda: now[0])
    origin = log_origin(description)

    before = take_snapshot(c.backend)
    block = int(c.anchors.anchor(op, origin, 5, b"\x01" * 32, b"\x02" * 32)["blockNumber"])
    requests.clear()
    first = keys.for_checkpoint(5)
    assert (first.block, first.anchored) == (block, True) and requests["eth_call"] >= 4, requests  # at_size too
    for later in (0.0, ANCHOR_RECHECK_S - 0.001):  # within the interval: nothing read
        now[0] = 100.0 + later
        requests.clear()
        assert keys.for_checkpoint(5) is first
        assert dict(requests) == {}, requests
    now[0] = 100.0 + ANCHOR_RECHECK_S  # then the block's hash once, no AuditAnchor; then nothing again
    for expected in ({"eth_getBlockByNumber": 1}, {}):
        requests.clear()
        assert keys.for_checkpoint(5) is first
        assert dict(requests) == expected, requests

    revert_to_snapshot(c.backend, before)
    assert transfer(c, 3) == block  # another block at that height
    op = c.with_fresh_signers().signers["op"]  # no nonce remembered from before the revert
    again = int(c.anchors.anchor(op, origin, 5, b"\x03" * 32, b"\x04" * 32)["blockNumber"])
    assert again == block + 1
    assert keys.for_checkpoint(5) is first  # the hash not read again yet: kept as it was
    now[0] += ANCHOR_RECHECK_S
    requests.clear()
    moved = keys.for_checkpoint(5)
    assert (moved.block, moved.anchored) == (again, True) and requests["eth_call"] >= 4, requests
    requests.clear()
    assert keys.for_checkpoint(5) is moved and dict(requests) == {}, requests
    assert keys.for_checkpoint(6).anchored is False  # a size no anchor holds: the keys valid at the head

    # a chain shorter than the kept anchor block (reverted to before it, nothing mined since): looked up again, and
    # no anchor of that size there now gives the keys valid at the head, not a failure
    revert_to_snapshot(c.backend, before)
    assert c.backend.web3.eth.block_number < again
    now[0] += ANCHOR_RECHECK_S
    found = keys.for_checkpoint(5)
    assert found.anchored is False and found.block == c.backend.web3.eth.block_number


def test_preparing_reads_the_latest_anchor_once_and_keeps_its_checkpoints_keys(
    consortium: Consortium, tmp_path: Path, requests: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prepare`` (a service warming its provenance answers) reads AuditAnchor's latest anchor and keys the
    checkpoint under the block it names, without asking AuditAnchor again for that size; the checkpoint's keys are
    then kept: asking for them reads no contract."""
    c = consortium
    description = described(c, tmp_path, "prepare", PASS)
    c.trust.add_key(c.signers["op"], KeyKind.LOG_KEY, public_bytes(_notary_key(tmp_path)))
    origin = log_origin(description)
    c.anchors.anchor(c.signers["op"], origin, 2, b"\x01" * 32, b"\x02" * 32)
    anchored = c.anchors.at_size(origin, 2)
    assert anchored is not None
    view = TrustView(c.backend, c.trust.address)
    view.refresh()
    keys = ChainWitnessKeys(description, c.backend, view=view, clock=lambda: 0.0)  # a clock that stands
    by_size: list[int] = []
    real = keys._anchors.at_size

    def at_size(origin: str, size: int) -> Any:
        by_size.append(size)
        return real(origin, size)

    monkeypatch.setattr(keys._anchors, "at_size", at_size)

    assert keys.prepare() == anchored.block_number
    assert by_size == []  # the latest anchor named its block: not looked up again by size
    requests.clear()
    chosen = keys.for_checkpoint(2)
    assert chosen.anchored and chosen.block == anchored.block_number
    assert requests == Counter(), requests


def _notary_key(directory: Path) -> Any:
    from network.identity import load_notary_key

    return load_notary_key(directory, OrgId("op"), PASS)
