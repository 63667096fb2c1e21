"""``consortium verify state`` and the header kept beside ``consortium.json`` (``verified-chain/header.json``,
``network.keptheader``), in process (click's CliRunner) against one real node in this process, its JSON-RPC
answered by the node's own handler without a socket (``tests.support.inprocess_rpc``; it stands in for the
``RpcBackend`` the command would open to a URL, ``cli.verify_state.chain_backend``).

The first run follows the headers from the genesis and keeps the header it proved; the next resumes from it and
asks the node only for the headers after it; ``--trusted-block`` neither reads nor writes it; an earlier block
is proven from the genesis and leaves it as it is. A kept file that is not JSON, of another chain, or whose
header is not on the node's chain is refused with one line naming the way out, and left as it is."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import cli.verify_state
from chain.ids import OrgId, Role
from chain.node.rpc import RpcServer
from cli.main import cli as command
from contracts import CONTRACT_NAMES
from network.description import ConsortiumDescription, MemberDescription
from network.identity import OrgPublic, create_org_identity
from network.keptheader import cli_header_path
from tests.support.inprocess_rpc import InProcessRpc
from tests.unit.chain.test_node import registry_call
from tests.unit.chain.test_validator_set import Chain

PASSPHRASE = b"verify-state-kept"


@pytest.fixture(scope="module")
def chain() -> Chain:
    """One node, op its one validator (block 1 bootstraps the registry); the tests seal more blocks on it."""
    return Chain()


@pytest.fixture(scope="module")
def op_identity(tmp_path_factory: pytest.TempPathFactory, chain: Chain) -> OrgPublic:
    """op's public identity, its account the node's validator's."""
    identity = create_org_identity(tmp_path_factory.mktemp("identity"), OrgId("op"), "Operator", PASSPHRASE)
    return dataclasses.replace(identity, account=chain.accounts["op"].address)


@pytest.fixture
def served(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[InProcessRpc]]:
    """The command's chain is the node of ``chain``, through its JSON-RPC handler; each run's client is listed
    (what it asked the node)."""
    clients: list[InProcessRpc] = []

    def backend(*_args: Any, **_kwargs: Any) -> InProcessRpc:
        clients.append(InProcessRpc(RpcServer(chain.node)))
        return clients[-1]

    monkeypatch.setattr(cli.verify_state, "chain_backend", backend)
    yield clients


def directory(tmp_path: Path, op: OrgPublic, chain: Chain) -> Path:
    """A consortium.json in ``tmp_path`` naming op, the node's validator, and the node's registry."""
    contracts = {name: f"0x{i + 1:040x}" for i, name in enumerate(CONTRACT_NAMES)}
    contracts["ConsortiumRegistry"] = chain.registry
    ConsortiumDescription(
        "verify state kept", 1, "local", "http://127.0.0.1:9", contracts, 0, 1, 7, {},
        (MemberDescription(OrgId("op"), "Operator", Role.MEMBER | Role.VALIDATOR, op),),
    ).write(tmp_path)  # fmt: skip
    return tmp_path / "consortium.json"


def run(consortium: Path, *args: str) -> Result:
    return CliRunner().invoke(command, ["verify", "state", "--consortium", str(consortium), *args])


def headers_asked(client: InProcessRpc) -> int:
    return client.requests.count("eth_getBlockByNumber")


def seal_blocks(chain: Chain, count: int) -> int:
    for _ in range(count):
        chain.send("op", chain.registry, registry_call("propose_threshold", 1))
        chain.seal()
    return int(chain.node.head().block_number)


def test_the_next_run_resumes_from_the_header_the_last_one_kept(
    tmp_path: Path, op_identity: OrgPublic, chain: Chain, served: list[InProcessRpc]
) -> None:
    consortium = directory(tmp_path, op_identity, chain)
    path = cli_header_path(tmp_path)
    first_head = seal_blocks(chain, 2)
    first = run(consortium, "--member", "op")
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[0] == (
        f"✓ start — block 0 names the 1 founding validator(s) of consortium.json; no header kept in {path} yet"
    )
    assert lines[-2] == f"kept — the header of block {first_head} in {path}: the next run starts from it"
    assert any(line.startswith("✓ member op — active") for line in lines)
    kept = json.loads(path.read_text())
    assert kept["number"] == first_head and headers_asked(served[-1]) == 1 + first_head  # block 0, then 1 to head

    head = seal_blocks(chain, 3)
    second = run(consortium, "--member", "op", "--json")
    assert second.exit_code == 0, second.output
    shown = json.loads(second.stdout)
    assert shown["started_from"] == {"source": "kept", "block": first_head}
    assert shown["start"].startswith(f"block {first_head}, the header kept in {path} ({kept['hash']}: the node")
    assert shown["kept_header"] == {"file": str(path), "block": head, "written": True, "problem": None}
    assert shown["members"]["op"]["status"] == "active"  # proven at the new head, from the kept header
    # block 0 (the genesis, the kept header's root), the kept block again, then only the headers after it
    assert headers_asked(served[-1]) == 2 + (head - first_head)
    assert json.loads(path.read_text())["number"] == head

    # --trusted-block overrides it: neither read nor written, and the first line says where it started
    raw = path.read_bytes()
    later = seal_blocks(chain, 1)
    given = run(consortium, "--trusted-block", f"{first_head}:{kept['hash']}")
    assert given.exit_code == 0, given.output
    assert given.stdout.splitlines()[0] == (
        f"✓ start — block {first_head} is the trusted {kept['hash']} (--trusted-block); the header kept in {path} "
        "is neither read nor written"
    )
    assert f"state proven at block {later} " in given.stdout and path.read_bytes() == raw

    # an earlier block than the kept one: proven from the genesis, the kept header checked and left as it is
    earlier = run(consortium, "--block", "2", "--json")
    assert earlier.exit_code == 0, earlier.output
    shown = json.loads(earlier.stdout)
    assert shown["started_from"] == {"source": "genesis", "block": 0} and shown["block"]["number"] == 2
    assert f"the header kept in {path}, block {head}, is after block 2: not used" in shown["start"]
    assert shown["kept_header"] == {"file": str(path), "block": head, "written": False, "problem": None}
    assert path.read_bytes() == raw


def kept_file(path: Path, change: dict[str, Any]) -> bytes:
    data = json.loads(path.read_text())
    return json.dumps({**data, **change}).encode()


@pytest.mark.parametrize(
    ("case", "code", "why"),
    [
        ("not JSON", 2, "it is not JSON"),
        ("another chain", 2, "it is of another chain: its genesis is 0x" + "11" * 32 + ", this chain's is 0x"),
        ("not on the chain", 1, "the node's chain does not lead through it: block "),
        ("other validators", 1, "names other validators than the kept ones"),
    ],
)
def test_a_kept_header_that_cannot_be_used_is_refused_with_one_line_and_left_as_it_is(
    tmp_path: Path, op_identity: OrgPublic, chain: Chain, served: list[InProcessRpc], case: str, code: int, why: str
) -> None:
    consortium = directory(tmp_path, op_identity, chain)
    path = cli_header_path(tmp_path)
    seal_blocks(chain, 1)
    assert run(consortium).exit_code == 0 and path.is_file()  # a good one, to spoil
    raw = {
        "not JSON": b'{"format": "consortium-ledger/verified-header/v1", ',
        "another chain": kept_file(path, {"genesis": "0x" + "11" * 32}),
        "not on the chain": kept_file(path, {"hash": "0x" + "22" * 32}),
        "other validators": kept_file(path, {"validators": ["0x" + "33" * 20]}),
    }[case]
    path.write_bytes(raw)
    seal_blocks(chain, 1)
    for args in ((), ("--json",)):
        refused = run(consortium, "--member", "op", *args)
        assert refused.exit_code == code, refused.output
        (line,) = refused.stderr.splitlines()
        assert line.startswith(f"error: the kept trusted header {path} is refused: ") and why in line, line
        assert line.endswith(
            "nothing was verified and the file is left as it is: move it aside to follow the headers from the "
            "genesis again, or start from a block you checked with --trusted-block NUMBER:0xHASH"
        )
        if args and code == 1:  # a check that failed: the JSON answer says so too
            answer = json.loads(refused.stdout)
            assert answer["verified"] is False and line.startswith(f"error: {answer['error']}; nothing was verified")
        else:
            assert refused.stdout == ""
        assert path.read_bytes() == raw
    block_1 = served[0].request("eth_getBlockByNumber", ["0x1", False])["hash"]
    assert run(consortium, "--trusted-block", f"1:{block_1}").exit_code == 0  # the way out for one run
    assert path.read_bytes() == raw  # leaves it as it is too
