"""network.nodes: which members run a node, in which order, on which ports; the file that lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.ids import OrgId, Role
from network.nodes import (
    MAX_NODES,
    NodeEntry,
    NodesError,
    default_chain_dir,
    node_entries,
    read_nodes,
    up_ports,
    write_nodes,
)

V, M, OP, R = Role.VALIDATOR, Role.MEMBER, Role.OPERATOR, Role.REGULATOR


def test_the_operator_first_then_validators_then_regulators_that_do_not_validate() -> None:
    members = [
        (OrgId("a"), M | V),
        (OrgId("op"), M | OP | V),
        (OrgId("b"), M),
        (OrgId("reg"), R),
        (OrgId("c"), M | V),
    ]
    entries = node_entries(members)
    assert [(e.org, e.validator) for e in entries] == [("op", True), ("a", True), ("c", True), ("reg", False)]
    assert [e.role for e in entries] == ["validator"] * 3 + ["follower"]


def test_refusals() -> None:
    with pytest.raises(NodesError, match="no member holds the validator role"):
        node_entries([(OrgId("a"), M), (OrgId("reg"), R)])
    with pytest.raises(NodesError, match=f"at most {MAX_NODES}"):
        node_entries([(OrgId(f"v{i}"), M | V) for i in range(MAX_NODES + 1)])


def test_up_ports_keep_the_operators_node_on_the_given_port() -> None:
    assert up_ports(8545, 3) == [(8545, 8595), (8576, 8596), (8577, 8597)]


def test_nodes_file_round_trip_and_default_chain_dir(tmp_path: Path) -> None:
    assert default_chain_dir(tmp_path) == tmp_path / "chain"  # a consortium of one node
    entries = [NodeEntry(OrgId("op"), True, "http://127.0.0.1:1"), NodeEntry(OrgId("reg"), False)]
    write_nodes(tmp_path, entries)
    assert read_nodes(tmp_path) == entries
    assert default_chain_dir(tmp_path) == tmp_path / "nodes" / "op"
    assert default_chain_dir(tmp_path, "reg") == tmp_path / "nodes" / "reg"
    with pytest.raises(NodesError, match="stranger runs no node here"):
        default_chain_dir(tmp_path, "stranger")
    (tmp_path / "nodes" / "nodes.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(NodesError, match="malformed"):
        read_nodes(tmp_path)
