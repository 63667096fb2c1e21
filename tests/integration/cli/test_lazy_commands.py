"""``consortium``'s commands are imported when used: the top-level help comes from ``COMMANDS`` and must say
what each command's own help says, and asking for it loads none of web3, py-evm or eth-account."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from cli.main import COMMANDS, cli

HEAVY = (
    "web3", "eth", "eth_account", "eth_keyfile", "py_ecc.optimized_bls12_381", "chain.node", "notary.service",
    "explorer", "gateway",
)  # fmt: skip


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_line_of_the_help_is_the_commands_own(name: str) -> None:
    module, attribute, line = COMMANDS[name]
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command)
    assert command.get_short_help_str(limit=10_000) == line
    assert cli.get_command(click.Context(cli), name) is command


def test_the_help_lists_every_command_and_an_unknown_one_is_a_usage_error() -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["--help"])
    assert shown.exit_code == 0
    listed = [line.split()[0] for line in shown.output.split("Commands:\n")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)
    unknown = runner.invoke(cli, ["no-such-command"])
    assert unknown.exit_code == 2 and "No such command" in unknown.output


def loaded_after(code: str) -> list[str]:
    """The modules a fresh interpreter holds once it has run ``code``."""
    probe = "import json, sys\n" + code + "print(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return list(json.loads(done.stdout))


def within(loaded: list[str], packages: tuple[str, ...]) -> list[str]:
    """The modules of ``loaded`` that are one of ``packages`` or inside one."""
    return [m for m in loaded if any(m == p or m.startswith(p + ".") for p in packages)]


def test_asking_for_help_imports_nothing_heavy() -> None:
    loaded = loaded_after(
        "from click.testing import CliRunner\n"
        "from cli.main import cli\n"
        "assert CliRunner().invoke(cli, ['--help']).exit_code == 0\n"
    )
    assert within(loaded, HEAVY) == []


@pytest.mark.parametrize("module", ["cli.member", "cli.grant"])
def test_a_read_only_command_imports_no_web3(module: str) -> None:
    """``member list`` and ``grant check`` read through eth-abi and one eth_call: web3 and eth-account (a second
    of CPU at every start) are imported only by what signs or reads events, and py-evm only by what runs a node
    (``network.nodeaccess``, whose client certificate every command asks for, serves nodes too)."""
    loaded = loaded_after(f"import {module}, network.consortium, network.nodeaccess, chain.contracts\n")
    assert within(loaded, HEAVY) == []


def test_the_gateway_and_the_witness_start_without_web3_or_the_notarys_service() -> None:
    """A gateway and a witness read the chain over plain JSON-RPC (``chain.backend.read_errors`` catches web3's
    errors without importing web3) and never anchor: their start imports neither web3 and eth-account, nor py-evm,
    nor the notary's service and its PostgreSQL driver (about half a second of CPU in each of the processes
    ``consortium up`` starts)."""
    loaded = loaded_after(
        "import cli.main, cli.gateway, gateway.service, cli.log, notary.witness.server, network.logsetup\n"
        "import network.trust, chain.trustview\n"
    )
    unneeded = ("web3", "eth", "eth_account", "eth_keyfile", "chain.node.node", "chain.node.rpc", "notary.service",
                "psycopg")  # fmt: skip
    assert within(loaded, unneeded) == []
