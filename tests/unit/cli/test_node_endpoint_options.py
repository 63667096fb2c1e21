"""The options of a node's endpoint and of a joined firm's node, and their refusals: `member keys add
node-endpoint --url` takes an https peer URL only, and `node` for an org ``consortium.json`` does not list needs
the network and the firm's identity. A consortium directory with no chain behind it: every case is refused
before anything connects or listens."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from tests.unit.network.test_crypto_suite import PASS, consortium


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("endpoints")
    consortium(directory, "intl")  # consortium.json's chain URL is http://127.0.0.1:9
    return directory


def run(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, env={"CONSORTIUM_PASSPHRASE": PASS.decode()})


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["node-endpoint", "--url", "http://127.0.0.1:8650"], "give the node's peer URL as https://host:port"),
        (["node-endpoint", "--url", "https://127.0.0.1"], "give the node's peer URL as https://host:port"),
        (["node-endpoint", "--url", "https://127.0.0.1:8650/qbft"], "give the node's peer URL as https://host:port"),
        (["gateway-key", "--url", "https://127.0.0.1:8650"], "--url is the value of a node-endpoint"),
        (["node-endpoint", "--url", "https://127.0.0.1:8650", "--hex", "00"], "exactly one of --hex, --file or --url"),
    ],
    ids=["http", "no-port", "a-path", "not-an-endpoint", "two-values"],
)
def test_a_node_endpoint_is_an_https_peer_url(root: Path, args: list[str], said: str) -> None:
    result = run(["--dir", str(root), "member", "keys", "add", *args, "--as", "acme"])
    assert result.exit_code == 1, result.output
    assert said in result.output, result.output


def test_a_joined_firms_node_needs_the_network_and_its_identity(root: Path) -> None:
    alone = run(["node", str(root), "--org", "newco"])
    assert alone.exit_code == 1 and "newco is not a founder: its node runs on the consortium's network" in alone.output
    stranger = run(["node", str(root), "--org", "newco", "--peer-port", "1"])
    assert stranger.exit_code == 1, stranger.output
    assert "no identity of 'newco'" in stranger.output, stranger.output
    assert not (root / "nodes").exists()  # nothing written
