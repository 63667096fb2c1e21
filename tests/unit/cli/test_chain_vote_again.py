"""``consortium chain vote-again DIRECTORY [--org ORG]``: an operator ends a validator's sit-out by vouching for its
stopped node's record of signed messages; the store of a running node (locked) and a directory without a store are
refused with nothing written."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from chain.node.service import STORE_DIR
from chain.node.signed import SignedLog, mark_new, record_state
from chain.node.store import open_store
from cli.main import cli
from tests.unit.chain.qbft.chainlike import address, keys

ME = address(keys(1)[0])


def run(directory: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--dir", "/nonexistent", "chain", "vote-again", str(directory), *args])


def behind_its_peers(directory: Path) -> Path:
    """A one-node directory whose validator's record abstains through height 8 (its peers were at block 7)."""
    store_dir = directory / "chain" / STORE_DIR
    store_dir.mkdir(parents=True)
    with open_store(store_dir) as store:
        mark_new(store)
        log = SignedLog(store, ME)
        log.load(head=0)
        assert log.at_head(7) and log.abstain_through == 8
    return store_dir


def test_the_stopped_node_votes_at_its_next_start(tmp_path: Path) -> None:
    store_dir = behind_its_peers(tmp_path)
    result = run(tmp_path)
    assert result.exit_code == 0, result.output
    assert "abstained through height 8; it keeps no message" in result.output
    assert "votes at its next start, whatever its peers' head" in result.output
    with open_store(store_dir) as store:
        log = SignedLog(store, ME)
        log.load(head=7)
        assert log.at_head(9) and log.abstain_through == 0  # its peers moved on: it votes all the same
    again = run(tmp_path)  # that start consumed the vouching: the next one would have been checked as any
    assert again.exit_code == 0 and "did not abstain; it keeps no message" in again.output


def test_a_running_node_and_a_directory_without_a_store_are_refused(tmp_path: Path) -> None:
    store_dir = behind_its_peers(tmp_path)
    with open_store(store_dir) as store:  # the node runs: it holds its store's lock
        result = run(tmp_path)
        assert result.exit_code == 1
        assert "cannot be changed, nothing was: the store in" in result.output and "already open" in result.output
        assert record_state(store).abstain_through == 8 and not record_state(store).vouched
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = run(empty)
    assert missing.exit_code == 1 and "no chain store yet" in missing.output
