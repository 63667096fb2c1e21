"""The ``consortium`` command line as a user drives it: real subprocesses against a real local chain.

One demo consortium is initialised for the whole module (``consortium init DIR --demo``) and served by
``consortium up DIR --port PORT`` running as a child process; every command passes ``--dir DIR --chain-url URL``
and takes its passphrase from ``$CONSORTIUM_PASSPHRASE``, as a member firm's operator would. Tests that change
chain state use their own asset ids, or undo what they did, so they do not depend on each other's order.

The path of a call end to end (tests/support/end_to_end.py), one test body for every suite, runs here for ``intl``
on this module's consortium, as its first case: it is imported below, and parametrised by tests/conftest.py.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from notary.event import EventJSON
from tests.support.cli import CLI, PASSPHRASE, assert_ok, cli_env, run_cli, shown
from tests.support.end_to_end import test_a_call_is_logged_cosigned_anchored_shown_and_verified_offline  # noqa: F401
from tests.support.up_process import CHAIN_ID, PLAIN, UpProcess, free_port, free_port_block, rpc_chain_id
from tests.support.wait import wait_until

STORE = Path("nodes") / "bjic-cloud" / "chaindata"  # the operator's node; each validator's is beside it
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

# The demo consortium (demo/consortium.toml), written out here as the independent expectation.
FOUNDERS = {
    "bjic-cloud": {"member", "operator", "validator", "notary", "witness"},
    "jinghua-sec": {"member", "validator", "witness"},
    "yanshan-sec": {"member", "validator", "witness"},
    "yongding-sec": {"member", "validator", "witness"},
    "tonghui-sec": {"member", "witness"},
    "shuzhi-tech": {"member", "witness"},
    "bjcm-supervision": {"regulator", "witness"},
}
NEWCO = "newco"
NEWCO_NAME = "Newco Securities Co., Ltd. (新锐证券)"


# -- helpers -------------------------------------------------------------------------------------------------


def assert_error(r: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """A user mistake: exit 1 and exactly one line on stderr, ``error: ...``, holding every fragment."""
    assert r.returncode == 1, shown(r)
    assert "Traceback" not in r.stderr, shown(r)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, shown(r)
    assert lines[0].startswith("error: "), shown(r)
    for fragment in fragments:
        assert fragment in lines[0], shown(r)
    return lines[0]


def assert_usage_error(r: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A malformed command line: click's usage error, exit 2, nothing done."""
    assert r.returncode == 2, shown(r)
    assert "Traceback" not in r.stderr, shown(r)
    assert r.stderr.startswith("Usage: "), shown(r)
    assert "Error: " in r.stderr, shown(r)
    assert r.stdout == "", shown(r)
    for fragment in fragments:
        assert fragment in r.stderr, shown(r)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def demo_digest(obj: object) -> str:
    """How the demo derives its assets' digests: SHA-256 of canonical JSON (network/consortium.py)."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "0x" + sha256_hex(text.encode())


def snapshot(root: Path, skip: Callable[[str], bool] = lambda _: False) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root`` (itself included): type, mode, size, mtime and, for files, SHA-256."""
    out: dict[str, tuple[Any, ...]] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        rel = path.relative_to(root).as_posix()
        if skip(rel):
            continue
        st = path.lstat()
        is_file = stat.S_ISREG(st.st_mode)
        out[rel] = (
            stat.S_IFMT(st.st_mode),
            stat.S_IMODE(st.st_mode),
            st.st_size if is_file else None,
            st.st_mtime_ns,
            sha256_hex(path.read_bytes()) if is_file else None,
        )
    return out


@dataclass
class Node:
    """The module's consortium directory and the `up` process currently serving it."""

    directory: Path
    up: UpProcess = field(init=False)
    summary: list[str] = field(init=False, default_factory=list)
    env: dict[str, str] = field(init=False, default_factory=cli_env)  # what its commands run with

    @property
    def url(self) -> str:
        return self.up.url

    def args(self, *args: str) -> list[str]:
        return ["--dir", str(self.directory), "--chain-url", self.url, *args]

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*self.args(*args), env=env)

    def json(self, *args: str) -> Any:
        return json.loads(assert_ok(self.cli(*args, "--json")))

    def start(self, avoid_port: int = 0, port: int | None = None, *options: str) -> None:
        """``consortium up DIR --port PORT [OPTIONS]`` (else a free port), then wait for its summary and its
        JSON-RPC port."""
        if port is None:
            port = free_port_block()
            while port == avoid_port:
                port = free_port_block()
        argv = [*CLI, "up", str(self.directory), "--port", str(port), "--authenticate-reads", *PLAIN, *options]
        self.up = UpProcess(argv, self.env, port)
        try:
            self.summary = self.up.wait_for_summary()
        except BaseException:
            self.up.kill()
            raise
        assert f"JSON-RPC {self.url}" in "\n".join(self.summary), self.up.output()

    def stop(self) -> int:
        """SIGTERM to ``up``; returns its exit code after checking it said it was stopping."""
        code = self.up.stop()
        assert "stopping" in self.up.stdout, self.up.output()
        return code


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    directory = tmp_path_factory.mktemp("cli") / "consortium"
    r = run_cli("init", str(directory), "--demo")
    out = assert_ok(r)
    assert "initialised consortium 'beijing-capital-market-pilot'" in out, shown(r)
    assert "(7 members, chain id 20261)" in out, shown(r)
    # The alarm tests wait for `up`'s alarms to fire and to resolve: their rules have no hold-down here (the
    # witness-down test would wait out 4 s before the alarm fires and 10 s before it resolves, the defaults).
    (directory / "up.toml").write_text(
        "[alarms.rules.notary-integrity]\nfire_after_s = 0\nresolve_after_s = 0\n"
        "[alarms.rules.witness-down]\nfire_after_s = 0\nresolve_after_s = 0\n"
    )
    n = Node(directory)
    n.start()
    try:
        yield n
    finally:
        if n.up.process.poll() is None:
            try:
                code = n.stop()
            except BaseException:
                n.up.kill()
                raise
            assert code == 0, f"`consortium up` exited {code} on SIGTERM:\n{n.up.output()}"
            assert (directory / STORE / "STORE").is_file()


def register(node: Node, asset: str, owner: str) -> str:
    """Register ``asset`` for ``owner`` with a fresh content digest; returns the digest as 0x-hex."""
    digest = sha256_hex(f"{asset}/{owner}/v1".encode())
    assert_ok(
        node.cli(
            "asset",
            "register",
            asset,
            "--kind",
            "dataset",
            "--classification",
            "2",
            "--content-digest",
            digest,
            "--as",
            owner,
        )
    )
    return "0x" + digest


# -- members and catalogue -----------------------------------------------------------------------------------


def test_up_with_authenticated_reads_the_explorer_follows_and_outsiders_get_401(node: Node) -> None:
    notary = f"http://127.0.0.1:{node.up.port + 1}"
    explorer = f"http://127.0.0.1:{node.up.port + 60}"
    assert httpx.get(notary + "/healthz", timeout=5).json() == {"ok": True}  # liveness only, to an outsider
    assert httpx.get(notary + "/metrics", timeout=5).status_code == 401
    assert "published_size" in httpx.get(notary + "/healthz", headers=_monitor(node.directory), timeout=5).json()
    for path in ("/checkpoint", "/v1/checkpoints", "/tile/entries/000.p/1"):
        response = httpx.get(notary + path, timeout=5)
        assert response.status_code == 401, (path, response.text)
        assert "members and witnesses only" in response.json()["error"]
    # the demo traffic is recorded, checkpointed, and indexed by the explorer, which signs its reads; its
    # /healthz gives the figures to a logged-in person, liveness only to an outsider, as the notary does
    login = _regulator_login(node.directory)

    def indexed() -> bool:
        return int(httpx.get(explorer + "/healthz", headers=login, timeout=5).json()["indexed_size"]) > 0

    wait_until(indexed, "indexing", 90)
    assert httpx.get(explorer + "/healthz", timeout=5).json() == {"ok": True}
    witness = f"http://127.0.0.1:{node.up.port + 6}"  # the first witness
    assert httpx.get(witness + "/healthz", timeout=5).json() == {"ok": True}
    assert httpx.get(witness + "/metrics", timeout=5).status_code == 401
    assert httpx.get(witness + "/healthz", headers=_monitor(node.directory), timeout=5).json() != {"ok": True}


def test_member_list_shows_the_seven_founders_and_the_threshold(node: Node) -> None:
    out = assert_ok(node.cli("member", "list"))
    lines = out.splitlines()
    rows = [line.split() for line in lines if not line.startswith("admission threshold")]
    orgs = [row[0] for row in rows]
    assert [o for o in orgs if o != NEWCO] == list(FOUNDERS), out
    for row in rows:
        if row[0] in FOUNDERS:
            assert set(row[2].split(",")) == FOUNDERS[row[0]], out
    # 6 voting members (everyone but the regulator); a member admitted by another test votes too.
    voters = 6 + (NEWCO in orgs)
    assert lines[-1] == f"admission threshold: 3 of {voters} voters", out


def test_chain_status_shows_the_four_validators_and_the_regulators_node_side_by_side(node: Node) -> None:
    rows = [json.loads(line) for line in assert_ok(node.cli("chain", "status", "--json")).splitlines()]
    assert [(r["org"], r["role"]) for r in rows] == [
        ("bjic-cloud", "validator"),
        ("jinghua-sec", "validator"),
        ("yanshan-sec", "validator"),
        ("yongding-sec", "validator"),
        ("bjcm-supervision", "follower"),
    ]
    assert all("error" not in r and r["head"] > 0 for r in rows), rows
    out = assert_ok(node.cli("chain", "status"))
    assert out.splitlines()[0].split()[:3] == ["node", "role", "JSON-RPC"], out


def test_chain_equivocations_asks_every_node_and_whatever_they_kept_verifies(node: Node) -> None:
    # An honest consortium keeps none, unless a validator restarted mid-height (docs/consensus.md): then the
    # records must still verify, and each names the nodes that hold it.
    out = assert_ok(node.cli("chain", "equivocations", "--verify"))
    rows = json.loads(assert_ok(node.cli("chain", "equivocations", "--json", "--verify")))
    if not rows:
        assert out.strip() == "no equivocation evidence", out
    assert all(r["verified"] and r["seenBy"] for r in rows), rows


def test_member_list_json(node: Node) -> None:
    members = {m["org"]: m for m in node.json("member", "list")}
    assert set(members) - {NEWCO} == set(FOUNDERS)
    description = json.loads((node.directory / "consortium.json").read_text(encoding="utf-8"))
    published = {m["org"]: m for m in description["members"]}
    for org, roles in FOUNDERS.items():
        m = members[org]
        assert set(m["roles"]) == roles, m
        assert m["status"] == "active", m
        assert m["cert_fingerprint"] == published[org]["cert_fingerprint"], m
        assert m["accounts"] == [published[org]["account"]], m
        assert m["admitted_at"] > 0, m
    assert members["bjcm-supervision"]["name"] == "Capital Market Supervision Office (资本市场监管办)"


def test_service_list_json_has_3_centers_20_units_83_apis(node: Node) -> None:
    tree = node.json("service", "list")
    units = [u for c in tree for u in c["units"]]
    apis = [a for u in units for a in u["apis"]]
    assert len(tree) == 3
    assert len(units) == 20
    assert len(apis) == 83  # the catalogue's 80 and the three steps of the demo's identifier set
    assert len({a["api"] for a in apis}) == 83
    assert {a["provider"] for a in apis} <= set(FOUNDERS)
    assert all(a["active"] and a["route"].startswith("/v1/") for a in apis)
    assert "public-business" in {c["center"] for c in tree}


# -- the demo's identifier set (demo/privacy.py, written out here as the independent expectation) ----------------

PSI_ASSET, PSI_OWNER, PSI_CLIENT, PSI_PURPOSE = "customer-ids", "yanshan-sec", "jinghua-sec", "aml-screening"
PSI_STEPS = "/v1/privacy/customer-ids"
PSI_SHARED = 600


def test_the_demo_identifier_set_is_registered_with_its_terms_steps_and_grant(node: Node) -> None:
    folder = node.directory / "orgs" / PSI_OWNER / "privacy"
    terms = (folder / f"{PSI_ASSET}.terms.json").read_bytes()
    assert json.loads(terms)["max_input"] == 10_000 and json.loads(terms)["steps"] == PSI_STEPS
    info = node.json("asset", "show", PSI_ASSET)
    assert (info["asset"]["owner"], info["asset"]["kind"]) == (PSI_OWNER, "dataset")
    [version] = info["versions"]
    assert version["metadata_digest"] == "0x" + sha256_hex(terms)  # the terms are fixed on chain
    assert version["content_digest"] == "0x" + sha256_hex((folder / "demo-customers.txt").read_bytes())
    apis = {a["route"]: a for c in node.json("service", "list") for u in c["units"] for a in u["apis"]}
    for step, method in (("terms", "GET"), ("request", "POST"), ("record", "POST")):
        api = apis[f"{PSI_STEPS}/{step}"]
        assert (api["method"], api["provider"], api["asset"]) == (method, PSI_OWNER, PSI_ASSET), api
    r = node.cli("grant", "check", PSI_ASSET, "--grantee", PSI_CLIENT, "--purpose", PSI_PURPOSE)
    assert r.returncode == 0 and r.stdout.startswith("allowed"), shown(r)
    r = node.cli("grant", "check", PSI_ASSET, "--grantee", "tonghui-sec", "--purpose", PSI_PURPOSE)
    assert r.returncode == 3, shown(r)
    for org, count in ((PSI_OWNER, 4_000), (PSI_CLIENT, 3_000)):
        listing = node.directory / "orgs" / org / "privacy" / "demo-customers.txt"
        assert stat.S_IMODE(listing.stat().st_mode) == 0o600
        assert len([line for line in listing.read_text().splitlines() if not line.startswith("#")]) == count


def psi_job(node: Node, *extra: str) -> subprocess.CompletedProcess[str]:
    """The job the summary of `up` prints (``psi job``), as printed, with ``extra`` arguments."""
    line = next(line for line in node.summary if line.strip().startswith("psi job "))
    argv = line.strip().removeprefix("psi job").split()
    assert argv[:3] == ["consortium", "--dir", str(node.directory)], line
    return run_cli(*argv[1:], *extra)


# -- data assets ---------------------------------------------------------------------------------------------


def test_asset_list_and_show_a_demo_asset(node: Node) -> None:
    out = assert_ok(node.cli("asset", "list"))
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert len(rows) >= 34, out
    assert rows["index-data"][1:5] == ["dataset", "L1", "v1", "jinghua-sec"], out
    assert rows["strategy-models"][1:5] == ["model", "L4", "v1", "tonghui-sec"], out

    out = assert_ok(node.cli("asset", "show", "equity-quotes-l1"))
    assert "owner           bjic-cloud" in out, out
    assert "kind            feed" in out, out
    assert "status          active" in out, out
    versions = [line for line in out.splitlines() if line.startswith("  v")]
    assert len(versions) == 1, out
    content = demo_digest({"asset": "equity-quotes-l1", "title": "Level-1 Equity Quotes (一档行情)", "version": 1})
    assert versions[0].startswith("  v1  "), out
    assert f"L1  content {content}  metadata 0x" in versions[0], out


def test_asset_register_and_version_keep_the_history(node: Node, tmp_path: Path) -> None:
    report = tmp_path / "broker-flows-2026q3.csv"
    report.write_bytes(b"date,broker,net_flow\n2026-09-30,jinghua-sec,1250000\n")
    file_digest = sha256_hex(report.read_bytes())
    metadata = sha256_hex(b"broker flows metadata")
    r = node.cli(
        "asset",
        "register",
        "cli-broker-flows",
        "--kind",
        "dataset",
        "--classification",
        "2",
        "--content-file",
        str(report),
        "--metadata-digest",
        metadata,
        "--as",
        "yongding-sec",
    )
    assert (
        assert_ok(r).strip() == f"registered cli-broker-flows (version 1, owner yongding-sec, content 0x{file_digest})"
    )

    v2 = sha256_hex(b"broker flows, restated")
    r = node.cli(
        "asset",
        "version",
        "cli-broker-flows",
        "--classification",
        "3",
        "--content-digest",
        "0x" + v2,
        "--as",
        "yongding-sec",
    )
    assert assert_ok(r).strip() == "cli-broker-flows is now at version 2"

    out = assert_ok(node.cli("asset", "show", "cli-broker-flows"))
    assert "owner           yongding-sec" in out, out
    assert "classification  3" in out, out
    versions = [line.split() for line in out.splitlines() if line.startswith("  v")]
    # v<n>  <registered at>  L<classification>  content 0x..  metadata 0x..
    assert [(v[0], v[2], v[4], v[6]) for v in versions] == [
        ("v1", "L2", "0x" + file_digest, "0x" + metadata),
        ("v2", "L3", "0x" + v2, "0x" + "00" * 32),
    ], out


def test_asset_transfer_offer_and_accept(node: Node) -> None:
    register(node, "cli-otc-book", "tonghui-sec")
    r = node.cli("asset", "transfer", "offer", "cli-otc-book", "--to", "yongding-sec", "--as", "tonghui-sec")
    assert "cli-otc-book offered to yongding-sec" in assert_ok(r)

    r = node.cli("asset", "transfer", "accept", "cli-otc-book", "--as", "shuzhi-tech")
    assert_error(r, "refused by the contract", "transfer not offered to this member")
    info = node.json("asset", "show", "cli-otc-book")["asset"]
    assert (info["owner"], info["pending_owner"]) == ("tonghui-sec", "yongding-sec")

    r = node.cli("asset", "transfer", "accept", "cli-otc-book", "--as", "yongding-sec")
    assert assert_ok(r).strip() == "yongding-sec now owns cli-otc-book"
    info = node.json("asset", "show", "cli-otc-book")["asset"]
    assert (info["owner"], info["pending_owner"]) == ("yongding-sec", None)


# -- grants --------------------------------------------------------------------------------------------------


def test_grant_create_list_check_revoke(node: Node) -> None:
    # fund-nav belongs to tonghui-sec in the demo; shuzhi-tech has no grant on it yet.
    r = node.cli(
        "grant",
        "create",
        "fund-nav",
        "--to",
        "shuzhi-tech",
        "--purpose",
        "backtesting",
        "--days",
        "30",
        "--quota",
        "100",
        "--as",
        "tonghui-sec",
    )
    out = assert_ok(r)
    match = re.fullmatch(
        r"grant (0x[0-9a-f]{64}): shuzhi-tech may use fund-nav for backtesting from \S+ to \S+, 100 calls\n", out
    )
    assert match, out
    grant_id = match.group(1)

    out = assert_ok(node.cli("grant", "list", "--grantee", "shuzhi-tech"))
    rows = [line for line in out.splitlines() if line.startswith(grant_id[:14] + "..")]
    assert len(rows) == 1, out
    assert rows[0].split()[1:6] == ["fund-nav", "tonghui-sec", "->", "shuzhi-tech", "backtesting"], out
    assert rows[0].endswith("  active  quota 100"), out

    check = ["grant", "check", "fund-nav", "--grantee", "shuzhi-tech", "--purpose"]
    r = node.cli(*check, "backtesting")
    assert assert_ok(r).strip() == f"allowed (grant {grant_id})"
    r = node.cli(*check, "trading")
    assert r.returncode == 3, shown(r)
    assert r.stdout.strip() == "denied: no grant for this asset, grantee and purpose", shown(r)
    assert r.stderr == "", shown(r)

    r = node.cli("grant", "revoke", grant_id, "--reason", "7", "--as", "tonghui-sec")
    assert assert_ok(r).strip() == f"revoked grant {grant_id} (reason 7)"
    r = node.cli(*check, "backtesting")
    assert r.returncode == 3, shown(r)
    assert r.stdout.strip() == f"denied: grant revoked (grant {grant_id})", shown(r)


# -- governance and supervision ------------------------------------------------------------------------------


def test_k_of_n_admission_of_a_new_firm(node: Node) -> None:
    out = assert_ok(node.cli("identity", "create", NEWCO, "--name", NEWCO_NAME))
    match = re.fullmatch(r"identity of newco created: account (0x[0-9a-fA-F]{40}), certificate (0x[0-9a-f]{64})\n", out)
    assert match, out
    account, fingerprint = match.groups()
    assert_error(node.cli("member", "show", NEWCO), "no member 'newco' on chain")

    r = node.cli("member", "propose", "admit", NEWCO, "--roles", "member,witness", "--as", "jinghua-sec")
    match = re.match(r"proposal #(\d+) created \(awaiting approvals\)", assert_ok(r))
    assert match, shown(r)
    pid = match.group(1)

    # The proposer's own approval counts: with threshold 3, the second other approval carries it out.
    r = node.cli("member", "approve", pid, "--as", "yanshan-sec")
    assert assert_ok(r).strip() == f"approved proposal #{pid}"
    r = node.cli("member", "approve", pid, "--as", "bjic-cloud")
    assert assert_ok(r).strip() == f"approved proposal #{pid}; it was carried out"
    r = node.cli("member", "approve", pid, "--as", "tonghui-sec")
    assert_error(r, "refused by the contract", "proposal already executed")

    info = node.json("member", "show", NEWCO)
    assert info["status"] == "active"
    assert info["name"] == NEWCO_NAME
    assert set(info["roles"]) == {"member", "witness"}
    assert info["accounts"] == [account]
    assert info["cert_fingerprint"] == fingerprint


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("chain", CHAIN_ID + 1, f"has chain id {CHAIN_ID}, but"),
        ("registry", "0x" + "42" * 20, "no ConsortiumRegistry at 0x4242"),
    ],
    ids=["chain-id", "registry"],
)
def test_join_refuses_a_description_of_another_chain(
    node: Node, tmp_path: Path, field: str, value: object, reason: str
) -> None:
    """A firm joining from a copy of consortium.json that is not this chain's, through a node that answers it (one
    serving members only does not: its request is written unchecked, tests/integration/cli/test_up_rpc_tls.py):
    refused, and nothing written."""
    data = json.loads((node.directory / "consortium.json").read_text())
    if field == "chain":
        data["chain"]["id"] = value
    else:
        data["contracts"]["ConsortiumRegistry"] = value
    copy = tmp_path / "consortium.json"
    copy.write_text(json.dumps(data))
    firm = tmp_path / "firm"
    join = ["member", "join", "kappa", "--name", "Kappa Securities", "--consortium", str(copy)]
    assert_error(run_cli("--dir", str(firm), "--chain-url", node.url, *join), reason)
    assert not firm.exists()


def test_regulator_suspends_and_reinstates_a_member(node: Node) -> None:
    check = ["grant", "check", "equity-quotes-l1", "--grantee", "yanshan-sec", "--purpose", "research"]
    assert_error(
        node.cli("member", "suspend", "yanshan-sec", "--as", "jinghua-sec"),
        "refused by the contract",
        "not a regulator",
    )
    validators = {m["org"]: m["accounts"][0] for m in node.json("member", "list")}
    yanshan = validators["yanshan-sec"]
    r = node.cli("member", "suspend", "yanshan-sec", "--as", "bjcm-supervision")
    assert assert_ok(r).strip() == "suspended yanshan-sec"
    try:
        # the freeze takes yanshan-sec's validator out of the set from the next block: three decide it
        frozen_set = chain_validators(node.url)
        assert yanshan not in frozen_set and len(frozen_set) == 3, frozen_set
        r = node.cli(*check)
        assert r.returncode == 3, shown(r)
        assert r.stdout.startswith("denied: grantee suspended"), shown(r)
        r = node.cli(
            "asset",
            "version",
            "industry-chain",
            "--classification",
            "2",
            "--content-digest",
            "11" * 32,
            "--as",
            "yanshan-sec",
        )
        assert_error(r, "refused by the contract", "member suspended")
    finally:
        r = node.cli("member", "reinstate", "yanshan-sec", "--as", "bjcm-supervision")
    assert assert_ok(r).strip() == "reinstated yanshan-sec"
    assert yanshan in chain_validators(node.url) and len(chain_validators(node.url)) == 4
    assert assert_ok(node.cli(*check)).startswith("allowed (private grant 0x")


def test_verify_state_proves_records_through_a_node_trusting_only_consortium_json(node: Node) -> None:
    """``verify state`` walks the demo chain's headers from the four validators ``consortium init`` named (QBFT
    seals of real validator processes) and proves, through the operator's node, what the contracts answer."""
    check = assert_ok(
        node.cli("grant", "check", "equity-quotes-l1", "--grantee", "yanshan-sec", "--purpose", "research")
    )
    found = re.search(r"grant (0x[0-9a-f]{64})", check)
    assert found is not None, check
    grant = found.group(1)
    description = str(node.directory / "consortium.json")
    args = ("--member", "yanshan-sec", "--keys", "jinghua-sec", "--grant", grant)
    # a block sealed after the header `grant check` kept (the notary anchors the demo traffic's events every 10 s),
    # so that `verify state` checks a header's seals: from the kept header to the head asked for at once, it would
    # have none to count ("the trusted block itself")
    kept_at = json.loads((node.directory / "verified-chain" / "header.json").read_text(encoding="utf-8"))["number"]
    wait_until(lambda: head_number(node.url) > kept_at, f"a block after the kept header's {kept_at}", 60.0)
    proven = node.json("verify", "state", "--consortium", description, "--chain-url", node.url, *args)
    # sealed by a quorum of the set its parent names: three of the four, or two of three while an earlier test of
    # this consortium has a validator suspended (the regulator's freeze takes it out of the set)
    block = proven["block"]
    deciding = {a.lower() for a in chain_validators(node.url, block["number"] - 1)}
    sealers = {a.lower() for a in block["sealed_by"]}
    assert proven["verified"] is True and sealers <= deciding, (block, deciding)
    assert len(sealers) >= -(-2 * len(deciding) // 3) and len(deciding) >= 3, (block, deciding)
    # from the header `grant check` kept beside consortium.json just now (verified-chain/header.json), not the genesis
    kept = json.loads((node.directory / "verified-chain" / "header.json").read_text(encoding="utf-8"))
    assert proven["started_from"]["source"] == "kept" and proven["started_from"]["block"] >= 1, proven["start"]
    assert proven["kept_header"]["block"] == kept["number"] == block["number"], proven["kept_header"]
    published = {m["org"]: m for m in json.loads(Path(description).read_text(encoding="utf-8"))["members"]}
    member = proven["members"]["yanshan-sec"]
    assert (member["status"], set(member["roles"])) == ("active", FOUNDERS["yanshan-sec"])
    assert member["accounts"] == [published["yanshan-sec"]["account"]]
    assert member["cert_fingerprint"] == published["yanshan-sec"]["cert_fingerprint"]
    records = proven["keys"]["jinghua-sec"]["records"]
    assert [{k: v for k, v in r.items() if k != "counts"} for r in records] == node.json(
        "member", "keys", "list", "jinghua-sec"
    )
    assert records and all(r["counts"] for r in records if r["state"] == "open")
    # the demo's grants are private: the chain proves the grant's grantor and asset, not its terms, so whether it
    # allows a call is undecided without them (`grant check`, with the grantor's terms, says "allowed" above)
    shown_grant = proven["grants"][grant]
    assert (shown_grant["private"], shown_grant["check"]) == (True, None), shown_grant
    assert (shown_grant["grantor"], shown_grant["asset"]) == ("bjic-cloud", "equity-quotes-l1"), shown_grant
    assert "grantee" not in shown_grant and "purpose" not in shown_grant, shown_grant


def head_number(url: str) -> int:
    """The operator's node's head."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    return int(httpx.post(url, json=body, timeout=5).json()["result"], 16)


def chain_validators(url: str, block: int | None = None) -> list[str]:
    """The validator set the head (or ``block``) names (it decides the next block), from the operator's node."""
    at = "latest" if block is None else hex(block)
    body = {"jsonrpc": "2.0", "id": 1, "method": "consortium_validators", "params": [at]}
    return list(httpx.post(url, json=body, timeout=5).json()["result"])


# -- mistakes ------------------------------------------------------------------------------------------------

DIGEST = "ab" * 32
WRONG_PASSPHRASE = "not-the-passphrase-9876"


@dataclass(frozen=True)
class Mistake:
    args: tuple[str, ...]
    code: int
    fragments: tuple[str, ...]
    passphrase: str | None = PASSPHRASE


def _register(asset: str, as_org: str, digest: str = DIGEST) -> tuple[str, ...]:
    return (
        "asset",
        "register",
        asset,
        "--kind",
        "dataset",
        "--classification",
        "1",
        "--content-digest",
        digest,
        "--as",
        as_org,
    )


MISTAKES = {
    "regulator-writes": Mistake(_register("cli-by-regulator", "bjcm-supervision"), 1, ("regulator is read-only",)),
    "not-the-owner": Mistake(
        ("asset", "version", "index-data", "--classification", "1", "--content-digest", DIGEST, "--as", "yanshan-sec"),
        1,
        ("refused by the contract: not asset owner",),
    ),
    "unknown-org": Mistake(_register("cli-by-nobody", "no-such-firm"), 1, ("no keys for 'no-such-firm'",)),
    "unknown-asset": Mistake(("asset", "show", "no-such-asset"), 1, ("unknown asset 'no-such-asset'",)),
    "uppercase-asset-id": Mistake(("asset", "show", "Index-Data"), 2, ("invalid asset id 'Index-Data'",)),
    "too-long-asset-id": Mistake(_register("a" * 33, "jinghua-sec"), 2, (f"invalid asset id '{'a' * 33}'",)),
    "digest-not-hex": Mistake(
        _register("cli-bad-digest", "jinghua-sec", "zz" * 32), 2, ("--content-digest must be 64 hex digits",)
    ),
    "grant-id-not-hex": Mistake(
        ("grant", "revoke", "0xnothex", "--reason", "1", "--as", "jinghua-sec"), 2, ("grant id must be 64 hex digits",)
    ),
    "missing-passphrase": Mistake(
        _register("cli-no-passphrase", "jinghua-sec"), 1, ("no passphrase", "CONSORTIUM_PASSPHRASE"), passphrase=None
    ),
    "wrong-passphrase": Mistake(
        _register("cli-wrong-passphrase", "jinghua-sec"), 1, ("wrong passphrase",), passphrase=WRONG_PASSPHRASE
    ),
}


def test_up_on_another_port_records_where_its_chain_runs_for_later_commands(node: Node) -> None:
    """`up --port P` writes its chain's, notary's and explorer's URLs into consortium.json: a command without
    --chain-url or --notary-url reaches this consortium, not whatever listens on the default ports."""
    description = json.loads((node.directory / "consortium.json").read_text(encoding="utf-8"))
    assert description["chain"]["url"] == node.url != "http://127.0.0.1:8545"
    notary = f"http://127.0.0.1:{node.up.port + 1}"
    assert description["notary"] == {"url": notary} and any(notary in x for x in node.summary), node.summary
    assert description["explorer"] == {"url": f"http://127.0.0.1:{node.up.port + 60}"}
    members = json.loads(assert_ok(run_cli("--dir", str(node.directory), "member", "list", "--json", env=cli_env())))
    assert members == node.json("member", "list")
    # `data reveal` without --notary-url asks this consortium's notary, which answers (signed reads) that it has no
    # such event of jinghua-sec: a fixed default port would have found no notary, or another consortium's
    unknown = "0190f0a8-0000-7000-8000-00000000abcd"
    r = run_cli("--dir", str(node.directory), "data", "reveal", unknown, "--provider", "jinghua-sec", env=cli_env())
    assert r.returncode != 0 and f"the notary at {notary} has no event {unknown} of jinghua-sec" in r.stderr, shown(r)


def test_up_with_a_planned_port_taken_stops_before_anything_starts(node: Node) -> None:
    """A second `up` of the directory on another block whose alarm endpoint port (PORT+3) a socket holds: one
    line naming the port and the component, nothing started (no chain on PORT), consortium.json and nodes.json
    as they were (the running consortium is still where they say)."""
    port = free_port_block()
    recorded = [node.directory / "consortium.json", node.directory / "nodes" / "nodes.json"]
    before = [path.read_bytes() for path in recorded]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port + 3))
        holder.listen()
        r = run_cli("up", str(node.directory), "--port", str(port))
    assert_error(r, f"port {port + 3} on 127.0.0.1, planned for the alarm endpoint, is already in use", "nothing")
    assert "starting" not in r.stdout, shown(r)
    assert [path.read_bytes() for path in recorded] == before
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "a chain node was started"


def test_a_witness_killed_with_sigkill_is_restarted_and_up_says_so(node: Node) -> None:
    line = next(x for x in node.summary if x.lstrip().startswith("witnesses"))
    org, url = line.split(": ", 1)[1].split(", ")[0].split(" ")
    _kill_the_one_running(["witness", "serve", str(node.directory), "--org", org])
    said = f"witness {org} restarted at {url}"
    wait_until(functools.partial(_said, node, said), f"`up` to restart witness {org}", 120.0)
    assert _said(node, f"witness {org} stopped (exit code -9); restarting in 1 s")
    print(next(x for x in node.up.stdout if said in x))  # `up` says how long it was down
    assert httpx.get(url + "/healthz", timeout=10.0).status_code == 200
    assert node.up.process.poll() is None  # the rest ran on


def test_an_alarm_under_up_reaches_the_audit_log_signed_by_the_operator(node: Node) -> None:
    """SIGSTOP a witness (alive, so `up` does not restart it, but silent): `witness-down` fires, and the explorer
    shows it live, read from `up`'s alarm endpoint (which answers its token only); SIGCONT and it resolves. Both
    transitions are events of the operator's `bjic-cloud/alarms` in the notary's log, which the operator reads
    with its gateway key and whose caller is the witness's firm."""
    from chain.ids import OrgId
    from network.identity import load_gateway_key
    from notary.event import parse_entry
    from notary.readauth import SignedReads

    org, operator = "tonghui-sec", "bjic-cloud"
    alarm_id = f"witness-down:witness/{org}"
    assert any(f"each recorded in the audit log as {operator}/alarms" in x for x in node.summary), node.summary
    pid = _the_one_running(["witness", "serve", str(node.directory), "--org", org])
    endpoint = f"http://127.0.0.1:{node.up.port + 3}/v1/alarms"
    assert any(f"served to the explorer at {endpoint}" in x for x in node.summary), node.summary
    assert httpx.get(endpoint, headers=_regulator_login(node.directory), timeout=10.0).status_code == 401
    explorer = f"http://127.0.0.1:{node.up.port + 60}/api/v1/alarms"

    def shown() -> dict[str, Any] | None:
        body: dict[str, Any] = httpx.get(explorer, headers=_regulator_login(node.directory), timeout=10.0).json()
        return body if alarm_id in {a["id"] for a in body["active"] or []} else None

    os.kill(pid, signal.SIGSTOP)
    try:
        fired = wait_until(lambda: _transition(node, "fired", alarm_id), "the witness-down alarm to fire", 120.0)
        in_explorer = wait_until(shown, "the alarm in the explorer", 60.0, every=0.2)
        assert (in_explorer["status"], in_explorer["source"]) == ("live", "endpoint"), in_explorer
        token = (node.directory / "alarms" / "api.token").read_text().strip()
        served = httpx.get(endpoint, headers={"Authorization": f"Bearer {token}"}, timeout=10.0).json()
        assert alarm_id in {a["id"] for a in served["active"]}
    finally:
        os.kill(pid, signal.SIGCONT)
    resolved = wait_until(lambda: _transition(node, "resolved", alarm_id), "the alarm to resolve", 120.0)
    assert _said(node, f"alarm fired: warning {alarm_id}: witness {org} does not answer")
    notary_url = next(x.split()[1] for x in node.summary if x.lstrip().startswith("notary "))
    key = load_gateway_key(node.directory, OrgId(operator), PASSPHRASE.encode())

    with httpx.Client(base_url=notary_url, auth=SignedReads(f"{operator}/sdk", key), timeout=10.0) as client:

        def logged(event_id: str) -> EventJSON | None:
            response = client.get(f"/v1/entries/{event_id}")
            if response.status_code == 404:
                return None
            assert response.status_code == 200, response.text
            return parse_entry(base64.b64decode(response.json()["entry"]))

        for line in (fired, resolved):
            event = wait_until(
                functools.partial(logged, line["audit_event_id"]), "the record in the log", 120.0, every=0.2
            )
            assert (event["gateway_id"], event["caller_org"], event["provider_org"]) == (
                f"{operator}/alarms", org, operator,
            )  # fmt: skip
            assert (event["api"], event["route"]) == (f"{line['transition']}.warning", f"/alarm/v1/{alarm_id}")
            assert event["time_ms"] == line["time_ms"]
    assert node.up.process.poll() is None


def test_an_integrity_alarm_resolved_by_the_operator_is_reported_by_up_no_more(node: Node) -> None:
    """An open integrity alarm in the notary's store (written there as the notary writes one: no split view is
    staged for it) fires `up`'s `notary-integrity`; a member that does not run the notary may list it but not
    resolve it; the operator resolves it with a reason, once, and `up` resolves its alarm."""
    from notary.storage.sqlite import LogStore

    store = LogStore(node.directory / "notary" / "notary.db")
    try:
        store.add_alarm(int(time.time() * 1000), "object-mismatch", 1, "changed bytes", subject="test/object")
        (alarm_id,) = [a["id"] for a in store.alarms(open_only=True) if a["subject"] == "test/object"]
    finally:
        store.close()
    listed = node.json("notary", "alarms", "list", "--open", "--as", "jinghua-sec")
    assert alarm_id in [a["id"] for a in listed], listed
    wait_until(lambda: _transition(node, "fired", "notary-integrity:notary"), "notary-integrity to fire", 120.0)
    resolve = ("notary", "alarms", "resolve", str(alarm_id), "--reason", "the object written again from the log")
    refused = node.cli(*resolve, "--as", "jinghua-sec")
    assert refused.returncode != 0 and "403" in refused.stderr and "may not resolve" in refused.stderr, shown(refused)
    resolved = assert_ok(node.cli(*resolve, "--as", "bjic-cloud"))
    assert "resolved by bjic-cloud/ops: the object written again from the log" in resolved, resolved
    again = node.cli(*resolve, "--as", "bjic-cloud")
    assert again.returncode != 0 and "409" in again.stderr, shown(again)
    wait_until(lambda: _transition(node, "resolved", "notary-integrity:notary"), "notary-integrity to resolve", 120.0)
    (kept,) = [a for a in node.json("notary", "alarms", "list", "--as", "jinghua-sec") if a["id"] == alarm_id]
    assert (kept["resolved_by"], kept["count"]) == ("bjic-cloud/ops", 1), kept


def _transition(node: Node, transition: str, alarm_id: str) -> dict[str, Any] | None:
    """The first line of `up`'s transitions.jsonl of ``transition`` of ``alarm_id``."""
    path = node.directory / "alarms" / "transitions.jsonl"
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    return next((x for x in lines if x["transition"] == transition and x["alarm"]["id"] == alarm_id), None)


def test_the_notary_and_a_gateway_killed_with_sigkill_come_back_and_no_event_is_lost(node: Node) -> None:
    """SIGKILL the notary and one gateway while demo traffic runs: `up` restarts both, every gateway's outbox
    ships everything it recorded (also what was recorded while the notary was down), and the notary sees no gap
    in any gateway's sequence."""
    announced = [x.split() for x in node.up.stdout if x.startswith("  up  gateway ")]
    gateways = {f"{w[1]} {w[2]}": w[3] for w in announced}  # name -> admin URL
    victim = sorted(gateways)[0]
    notary_url = next(x.split()[1] for x in node.summary if x.lstrip().startswith("notary "))
    targets = {"notary": ["notary", "serve", str(node.directory)], victim: ["gateway", "serve", str(node.directory),
               "--org", victim.split()[1]]}  # fmt: skip
    for words in targets.values():
        _kill_the_one_running(words)
    for name in targets:
        wait_until(functools.partial(_said, node, f"{name} restarted at"), f"`up` to restart {name}", 120.0)
        assert _said(node, f"{name} stopped (exit code -9); restarting in "), node.up.output()
        print(next(x for x in node.up.stdout if f"{name} restarted at" in x))  # `up` says how long it was down

    def outboxes() -> dict[str, dict[str, int]]:
        return {g: httpx.get(url + "/healthz", timeout=10.0).json()["outbox"] for g, url in gateways.items()}

    recorded = {g: box["last_seq"] for g, box in outboxes().items()}

    def shipped() -> bool:
        return all(box["shipped_seq"] >= recorded[g] for g, box in outboxes().items())

    wait_until(shipped, "every gateway to ship what it recorded", 120.0, ignoring=(httpx.HTTPError,))
    assert httpx.get(notary_url + "/healthz", headers=_monitor(node.directory), timeout=10.0).json()["gaps"] == 0
    assert node.up.process.poll() is None


def test_a_gateway_stopped_with_sigterm_resumes_from_the_header_it_kept(node: Node) -> None:
    """SIGTERM one gateway (not the one the case above kills): it keeps the newest header it accepted as it stops
    (``gateways/ORG/gateway.verified-header.json``), `up` starts it again, and its ``/healthz`` says its walk of
    the headers resumed from that block, not from the genesis."""
    announced = [x.split() for x in node.up.stdout if x.startswith("  up  gateway ")]
    admins = {w[2]: w[3] for w in announced}  # org -> admin URL

    def kept(org: str) -> dict[str, Any] | None:
        path = node.directory / "gateways" / org / "gateway.verified-header.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    # a gateway whose terms store holds private terms follows the headers, and keeps the first it accepted
    org = wait_until(lambda: next((o for o in sorted(admins)[1:] if kept(o)), None), "a gateway to keep a header", 60)
    os.kill(_the_one_running(["gateway", "serve", str(node.directory), "--org", org]), signal.SIGTERM)
    wait_until(functools.partial(_said, node, f"gateway {org} stopped (exit code "), "`up` to see it stop", 60.0)
    at_stop = kept(org)
    assert at_stop is not None and at_stop["number"] >= 1, at_stop
    wait_until(functools.partial(_said, node, f"gateway {org} restarted at"), f"`up` to restart gateway {org}", 120.0)

    def resumed() -> dict[str, Any] | None:
        headers = httpx.get(admins[org] + "/healthz", timeout=10.0).json()["chain"]["headers"]
        return headers if headers["resumed_from"] is not None else None

    headers = wait_until(resumed, f"gateway {org} to walk the headers again", 60.0, ignoring=(httpx.HTTPError,))
    assert headers["resumed_from"] == at_stop["number"] and headers["newest"] >= at_stop["number"], headers


def test_the_explorer_killed_with_sigkill_is_back_and_its_index_catches_up(node: Node) -> None:
    """SIGKILL the explorer while demo traffic runs: it answers again (the seconds it took are printed; the wait
    only bounds a hang), `up` says it restarted, and its index of the log catches up with the notary's published
    checkpoint, every leaf once."""
    explorer = f"http://127.0.0.1:{node.up.port + 60}"
    notary = f"http://127.0.0.1:{node.up.port + 1}"
    regulator = _regulator_login(node.directory)

    def indexed() -> int:
        return int(httpx.get(explorer + "/healthz", headers=regulator, timeout=5.0).json()["indexed_size"])

    before = wait_until(indexed, "the explorer to index the demo traffic", 90.0, every=0.2)
    _kill_the_one_running(["-m", "explorer", str(node.directory)])
    killed = time.monotonic()
    back = wait_until(indexed, "the explorer to answer again", 60.0, every=0.1, ignoring=(httpx.HTTPError,))
    print(f"the explorer answered again {time.monotonic() - killed:.1f} s after SIGKILL")
    assert back >= before  # its index survived the kill
    wait_until(functools.partial(_said, node, "explorer restarted at " + explorer), "`up` to say so", 30.0)
    assert _said(node, "explorer stopped (exit code -9); restarting in 1 s")

    published = httpx.get(notary + "/healthz", headers=_monitor(node.directory), timeout=5.0).json()["published_size"]

    def caught_up() -> dict[str, Any] | None:
        board = httpx.get(explorer + "/api/v1/dashboard", headers=regulator, timeout=10.0).json()
        checkpoint = board.get("checkpoint") or {}
        return board if board["log_size"] >= published and checkpoint.get("size", 0) >= published else None

    board = wait_until(caught_up, f"the explorer to index the notary's checkpoint of size {published}", 60.0, every=0.2)
    exported = httpx.get(explorer + "/api/v1/exports/calls.json", headers=regulator, timeout=60.0).json()
    indices = [row["index"] for row in exported]
    assert indices == list(range(len(indices))) and len(indices) >= board["log_size"], "a leaf missing or twice"
    assert len({row["event_id"] for row in exported}) == len(exported), "a call indexed twice"
    assert node.up.process.poll() is None


def _regulator_login(directory: Path) -> dict[str, str]:
    """The headers of the demo regulator's login token, which ``up`` writes for the explorer."""
    token = (directory / "explorer" / "logins" / "inspector@bjcm-supervision.token").read_text().strip()
    return {"Authorization": f"Bearer {token}"}


def _monitor(directory: Path) -> dict[str, str]:
    """The headers of the consortium's monitoring: the monitor token `up` wrote (the notary's figures)."""
    return {"Authorization": "Bearer " + (directory / "notary" / "monitor.token").read_text().strip()}


def _said(node: Node, text: str) -> bool:
    return any(text in line for line in node.up.stdout)


def _kill_the_one_running(words: list[str]) -> None:
    """SIGKILL the one process whose command line holds ``words`` in a row."""
    os.kill(_the_one_running(words), signal.SIGKILL)


def _the_one_running(words: list[str]) -> int:
    """The pid of the one process whose command line holds ``words`` in a row."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _has_run(_cmdline(p), words)]
    assert len(pids) == 1, (words, pids)
    return pids[0]


def _has_run(cmdline: list[str], words: list[str]) -> bool:
    return any(cmdline[i : i + len(words)] == words for i in range(len(cmdline)))


def _cmdline(proc: Path) -> list[str]:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


@pytest.fixture(scope="module")
def not_a_consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("not-a-consortium")
    (directory / "notes.txt").write_text("nothing to see\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def mistakes(node: Node, not_a_consortium: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every mistake in MISTAKES and the two below, run at once (none of them changes anything)."""
    commands = {name: (node.args(*m.args), cli_env(m.passphrase)) for name, m in MISTAKES.items()}
    commands["no-chain-there"] = (
        ["--dir", str(node.directory), "--chain-url", f"http://127.0.0.1:{free_port()}", "member", "list"],
        cli_env(),
    )
    commands["no-consortium-json"] = (
        ["--dir", str(not_a_consortium), "--chain-url", node.url, "member", "list"],
        cli_env(),
    )
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {name: pool.submit(run_cli, *args, env=env) for name, (args, env) in commands.items()}
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistakes_give_one_clear_line(mistakes: dict[str, subprocess.CompletedProcess[str]], name: str) -> None:
    m, r = MISTAKES[name], mistakes[name]
    if m.code == 2:
        assert_usage_error(r, *m.fragments)
    else:
        assert_error(r, *m.fragments)
    assert WRONG_PASSPHRASE not in r.stdout + r.stderr
    assert PASSPHRASE not in r.stdout + r.stderr


def test_refused_writes_changed_nothing(node: Node, mistakes: dict[str, subprocess.CompletedProcess[str]]) -> None:
    assets = {a["asset"]: a for a in node.json("asset", "list")}
    assert not {"cli-by-regulator", "cli-by-nobody", "cli-no-passphrase", "cli-wrong-passphrase"} & set(assets)
    assert assets["index-data"]["version_count"] == 1


def test_unreachable_chain_is_reported_plainly(mistakes: dict[str, subprocess.CompletedProcess[str]]) -> None:
    line = assert_error(mistakes["no-chain-there"], "cannot reach the chain at http://127.0.0.1:")
    assert "consortium up" in line


def test_directory_without_consortium_json(
    mistakes: dict[str, subprocess.CompletedProcess[str]], not_a_consortium: Path
) -> None:
    line = assert_error(mistakes["no-consortium-json"], f"{not_a_consortium / 'consortium.json'} not found")
    assert "consortium init" in line


# -- init refuses to overwrite -------------------------------------------------------------------------------


def test_init_refuses_an_initialised_directory(node: Node) -> None:
    # The running consortium owns its stores and logs (the node's, the notary's, the witnesses', the gateways',
    # the explorer's indexes, the alarm evaluator's state and the demo services', all busy with the demo traffic);
    # everything else, the explorer's demo logins included, must stay byte for byte.
    def live(rel: str) -> bool:
        explorer_state = rel.startswith("explorer/") and not rel.startswith("explorer/logins/")
        return (
            rel.startswith(("notary/", "witnesses/", "gateways/", "alarms/"))
            or rel == "alarms"
            or (rel.startswith("nodes/") and ("/chaindata/" in rel or rel.endswith("/node.log")))
            or rel == "demo-services.log"
            or explorer_state
        )

    before = snapshot(node.directory, skip=live)
    r = run_cli("init", str(node.directory))
    assert_error(r, f"{node.directory} already exists and is not empty", "nothing was changed")
    assert r.stdout == "", shown(r)
    assert snapshot(node.directory, skip=live) == before
    assert (node.directory / STORE / "STORE").is_file()
    assert rpc_chain_id(node.url) == CHAIN_ID


def test_init_refuses_an_unrelated_non_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "reports"
    (target / "2026").mkdir(parents=True)
    (target / "readme.txt").write_text("quarterly reports, do not delete\n", encoding="utf-8")
    (target / "2026" / "q3.bin").write_bytes(os.urandom(4096))
    before = snapshot(target)
    r = run_cli("init", str(target), "--demo")
    assert_error(r, f"{target} already exists and is not empty", "nothing was changed")
    assert snapshot(target) == before


# -- persistence ---------------------------------------------------------------------------------------------


def test_state_survives_a_clean_restart(node: Node, tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x07" + os.urandom(2048))
    r = node.cli(
        "asset",
        "register",
        "cli-persisted",
        "--kind",
        "model",
        "--classification",
        "3",
        "--content-file",
        str(model),
        "--as",
        "jinghua-sec",
    )
    assert_ok(r)
    before = json.loads(assert_ok(psi_job(node, "--job-id", "cli-psi-before", "--json")))
    assert before["intersection"] == PSI_SHARED, before
    old_port, old_url = node.up.port, node.url

    code = node.stop()
    assert code == 0, f"`consortium up` exited {code} on SIGTERM:\n{node.up.output()}"
    assert (node.directory / STORE / "STORE").is_file()
    assert rpc_chain_id(old_url) is None, "the chain still answers after `up` stopped"

    # shuzhi-tech's witness finds its state written by another release (a schema version it does not read): it
    # stops at each start; `up` reports it, gives up at the fifth stop, and the rest runs on (6 witnesses, 4
    # needed). (A port another program holds stops `up` before anything starts: the test above.)
    port = free_port_block()
    while port == old_port:
        port = free_port_block()
    state = node.directory / "witnesses" / "shuzhi-tech" / "witness.db"
    with contextlib.closing(sqlite3.connect(state)) as db, db:
        (schema,) = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    try:
        node.start(0, port, "--restart-delay", "0.25")  # the backoffs: 0.25, 0.5, 1 and 2 s
        _crash_loop_is_given_up(node, "witness shuzhi-tech", "schema version 999")
    finally:
        with contextlib.closing(sqlite3.connect(state)) as db, db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (schema,))
    info = node.json("asset", "show", "cli-persisted")
    assert info["asset"]["owner"] == "jinghua-sec"
    assert [v["content_digest"] for v in info["versions"]] == ["0x" + sha256_hex(model.read_bytes())]

    # The demo's identifier set is served again behind its owner's gateway: the same terms, key and lists give
    # the same intersection, and the job finished before the restart stays finished (its files are kept).
    after = json.loads(assert_ok(psi_job(node, "--json")))
    assert (after["intersection"], after["grant_id"]) == (PSI_SHARED, before["grant_id"]), after
    again = psi_job(node, "--job-id", "cli-psi-before")
    assert again.returncode == 3 and "409 job_exists" in again.stderr, shown(again)
    owner_jobs = node.directory / "orgs" / PSI_OWNER / "privacy" / "jobs"
    assert (owner_jobs / "cli-psi-before" / "record.json").read_bytes() == Path(before["record"]).read_bytes()

    # A disclosure from the job before the restart binds to the log: prove-member --as fetches the evidence of the
    # record step whose event id record-step.json kept (no --event; the notary's URL of this start, which
    # consortium.json records, over the one the file kept), anchored by now, and verify disclosure checks both.
    kept = json.loads(Path(before["record_step"]).read_text())
    assert kept["event_id"] == before["events"]["record"] and kept["notary_url"].endswith(f":{old_port + 1}"), kept
    shared = json.loads((Path(before["files"]) / "result.set.json").read_text())["identifiers"][0]
    proof = tmp_path / "before.json"
    files = [str(p) for p in sorted(Path(before["files"]).iterdir())]
    made = node.cli("privacy", "prove-member", *files, "--id", shared, "--set", "result", "--as", PSI_CLIENT,
                    "--out", str(proof), "--wait", "120")  # fmt: skip
    assert_ok(made)
    assert f"evidence of the record step (event {kept['event_id']}, index " in made.stderr, shown(made)
    checked = node.cli("verify", "disclosure", str(proof), "--evidence", str(tmp_path / "before.evidence.json"),
                       "--consortium", str(node.directory / "consortium.json"), "--chain-url", node.url)  # fmt: skip
    lines = assert_ok(checked).splitlines()
    assert any(line.startswith("✓ logged — the record is the one logged at index ") for line in lines), shown(checked)
    assert lines[-1] == f"identifier {shared} was in the result of job cli-psi-before (committed by {PSI_CLIENT})"


def _crash_loop_is_given_up(node: Node, name: str, why: str) -> None:
    """``name`` did not start under ``up``, which started the rest, tried it four times more and left it stopped,
    and runs on with every other component answering. (A start slower than its 30 s timeout, on a loaded machine,
    counts as a failed start too: the exit codes are not asserted.)"""
    assert _said(node, f"  !!  {name} did not start: {name} "), node.up.output()
    wait_until(functools.partial(_said, node, f"{name} stopped 5 times in a row"), f"`up` to give up on {name}", 240.0)
    assert _said(node, "; left stopped, the rest run on; see "), node.up.output()
    assert sum(f"{name} did not start again: " in x for x in node.up.stdout) == 4, node.up.output()
    stopped = f"  {name} stopped (exit code "
    delays = [x.split("restarting in ")[1].split(";")[0] for x in node.up.stdout if stopped in x]
    assert delays == ["0.25 s", "0.5 s", "1 s", "2 s"], node.up.output()
    assert any(why in x for x in node.up.stdout), node.up.output()  # why, in up's own words
    others = [url for org, url in _summary_urls(node, "witnesses") if org != name.split()[-1]]
    assert len(others) == 6
    for url in others:
        assert httpx.get(url + "/healthz", timeout=10.0).status_code == 200
    notary = f"http://127.0.0.1:{node.up.port + 1}"
    assert httpx.get(notary + "/healthz", headers=_monitor(node.directory), timeout=10.0).status_code == 200
    assert node.up.process.poll() is None


def _summary_urls(node: Node, kind: str) -> list[tuple[str, str]]:
    """(org, URL) of each component the summary's ``kind`` line lists (``witnesses  7: org url, ...``)."""
    line = next(x for x in node.summary if x.lstrip().startswith(kind))
    return [(w.split()[0], w.split()[1]) for w in line.split(": ", 1)[1].split(", ")]
