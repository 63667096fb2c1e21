"""``consortium chain equivocations --file F [--verify]``: the evidence records of a saved ``qbft_getEquivocations``
answer listed and checked offline (no node asked, no consortium directory read), forged or mismatched records
refused with the reason and a failing exit status. And the nodes asked without ``--file``: those the explorer asks
(``network.equivocationsources``), every one or, with ``--one-node``, the chain URL's alone, their records merged
(each node's answer injected: no socket)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chain.contracts.trust import KeyKind, KeyRecord, KeyState
from chain.errors import BackendError, RpcAnswerError
from chain.ids import MemberStatus, OrgId
from chain.qbft import messages as m
from chain.qbft.evidence import Equivocation
from chain.trustview import TrustSnapshot
from cli.main import cli
from cli.node import _equivocation_sources, _gather
from network.nodes import NodeEntry, write_nodes
from tests.unit.chain.qbft.chainlike import address, keys, make_block

KEYS = keys(4)
VALIDATORS = tuple(address(k) for k in KEYS)
ALICE, BOB = KEYS[0], KEYS[1]


def record(code: m.Code, first: m.Message, second: m.Message) -> Equivocation:
    return Equivocation(first.author, first.height, first.round, code, m.encode(first)[1], m.encode(second)[1])


def records() -> list[Equivocation]:
    one = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"one")
    cert = tuple(m.prepare(k, 1, 0, one.hash) for k in KEYS[:3])
    return [
        record(m.Code.PREPARE, m.prepare(ALICE, 1, 0, b"\x01" * 32), m.prepare(ALICE, 1, 0, b"\x02" * 32)),
        record(m.Code.ROUND_CHANGE, m.round_change(BOB, 1, 2), m.round_change(BOB, 1, 2, (0, one, cert))),
    ]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--dir", "/nonexistent", "chain", "equivocations", *args])


def saved(tmp_path: Path, data: object) -> str:
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_a_saved_answer_is_listed_and_verified_offline(tmp_path: Path) -> None:
    kept = records()
    answer = {"jsonrpc": "2.0", "id": 1, "result": [r.to_json() for r in kept]}  # the JSON-RPC answer as saved
    out = run("--file", saved(tmp_path, answer), "--verify")
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[1].split()[:6] == [ALICE.public_key.to_checksum_address(), "1", "0", "PREPARE", "ok", "-"]
    assert lines[2].split()[:5] == [BOB.public_key.to_checksum_address(), "1", "2", "ROUND_CHANGE", "ok"]
    assert lines[-1].startswith("2 record(s) verified")
    listed = run("--file", saved(tmp_path, answer), "--json", "--verify")
    rows = json.loads(listed.output)
    assert [Equivocation.from_json(row) for row in rows] == kept and all(row["verified"] for row in rows)
    again = run("--file", saved(tmp_path, rows), "--verify", *[f"--validator=0x{v.hex()}" for v in VALIDATORS])
    assert again.exit_code == 0, again.output  # its own --json output, read back, against the validator set


def test_forged_and_mismatched_records_are_refused_with_the_reason(tmp_path: Path) -> None:
    good = records()[0]
    forged = [
        replace(good, second=good.first),  # the same message twice
        replace(good, validator=address(BOB)),  # claims another signer
        replace(good, round=1),  # claims another round
        replace(good, code=m.Code.COMMIT),  # claims another type
        replace(good, second=m.encode(m.prepare(BOB, 1, 0, b"\x02" * 32))[1]),  # two validators' messages
    ]
    out = run("--file", saved(tmp_path, [good.to_json()] + [f.to_json() for f in forged]), "--verify")
    assert out.exit_code == 1, out.output
    assert "5 of 6 record(s) do NOT prove an equivocation" in out.output
    assert out.output.count("FAILED") == 5 and "no conflict" in out.output and "is signed by" in out.output
    outsider = run("--file", saved(tmp_path, [good.to_json()]), "--verify", f"--validator=0x{address(BOB).hex()}")
    assert outsider.exit_code == 1 and "not one of the given validators" in outsider.output


def test_a_file_that_holds_no_records_is_refused_and_nothing_is_asked(tmp_path: Path) -> None:
    for data in ([{"validator": "0x00"}], "text", [1, 2], {"result": None}):
        out = run("--file", saved(tmp_path, data), "--verify")
        assert out.exit_code == 1 and "evidence.json: " in out.output, (data, out.output)
    (tmp_path / "bad.json").write_text("{not json")
    assert run("--file", str(tmp_path / "bad.json")).exit_code == 1
    assert "--validator is for --verify" in run("--file", saved(tmp_path, []), "--validator=0x" + "00" * 20).output
    empty = run("--file", saved(tmp_path, []), "--verify")
    assert empty.exit_code == 0 and empty.output.strip() == "no equivocation evidence"


def endpoint(org: str, url: str) -> KeyRecord:
    return KeyRecord(OrgId(org), 0, KeyKind.NODE_ENDPOINT, url.encode(), 0, None, KeyState.OPEN, 0, None)


def test_every_node_the_explorer_asks_is_asked_and_their_records_merged_naming_the_nodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """alpha (the chain URL's node) and beta from nodes.json, epsilon only from the chain (a firm that joined
    later, asked at its peer route): one conflict reported by two nodes is one record naming both, a record only
    epsilon kept is listed, beta's refusal is said on stderr and hides nothing; --one-node asks alpha alone."""
    write_nodes(tmp_path, [
        NodeEntry(OrgId("alpha"), True, "http://127.0.0.1:8545", "https://127.0.0.1:30303"),
        NodeEntry(OrgId("beta"), True, "http://127.0.0.1:8546", "https://127.0.0.1:30304"),
    ])  # fmt: skip
    joined = "https://10.0.0.9:30310"
    snapshot = TrustSnapshot.of(7, 3, {"alpha": (endpoint("alpha", "https://127.0.0.1:30303"),),
                                       "epsilon": (endpoint("epsilon", joined),)},
                                {"alpha": MemberStatus.ACTIVE, "epsilon": MemberStatus.ACTIVE})  # fmt: skip
    kept = records()
    only_epsilon = record(m.Code.PREPARE, m.prepare(BOB, 1, 0, b"\x03" * 32), m.prepare(BOB, 1, 0, b"\x04" * 32))
    swapped = replace(kept[0], first=kept[0].second, second=kept[0].first)  # the same conflict, received the other way
    asked: list[tuple[str, float]] = []

    def ask(url: str, _context: object, timeout: float) -> object:
        asked.append((url, timeout))
        return [swapped.to_json(), only_epsilon.to_json()]

    def refuses() -> object:
        raise RpcAnswerError("refused", "method not found")

    url = "http://127.0.0.1:8545"
    planned = _equivocation_sources(tmp_path, url, 20261, None, 5.0, False, lambda: (snapshot, 7), ask)
    assert [(s.name, s.own) for s in planned] == [("alpha", True), ("beta", False), ("epsilon", False)]
    answers = {"alpha": lambda: [r.to_json() for r in kept], "beta": refuses}  # their JSON-RPC would need sockets
    sources = [replace(s, fetch=answers.get(s.name, s.fetch)) for s in planned]
    found = _gather(sources)
    assert asked == [(joined, 5.0)]
    assert [(r, holders) for r, holders in found] == [
        (kept[0], ["alpha", "epsilon"]),  # the first node's bodies
        (kept[1], ["alpha"]),
        (only_epsilon, ["epsilon"]),
    ]
    assert capsys.readouterr().err == "beta: method not found\n"
    one = _equivocation_sources(tmp_path, url, 20261, None, 5.0, True, lambda: (snapshot, 7), ask)
    assert [s.name for s in one] == ["alpha"]


def test_no_node_answering_fails_and_a_node_answering_no_records_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def down() -> object:
        raise BackendError("connection refused")

    (alone,) = _equivocation_sources(tmp_path, "http://127.0.0.1:8545", 20261, None, 5.0, False)  # one node's dir
    assert alone.name == "chain node"
    with pytest.raises(SystemExit):
        _gather([replace(alone, fetch=down), replace(alone, name="beta", fetch=lambda: {"jsonrpc": "2.0"})])
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "chain node: not answering: connection refused"
    assert err[1].startswith("beta: not answering: not an equivocation record") and err[2] == "error: no node answered"
