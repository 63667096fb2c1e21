"""``make run`` end to end: the commands of the Makefile's ``run`` target, on a throwaway DATA directory.

The test asks make for the target's commands (``make -n run DATA=<tmp>``) and for the passphrase it exports,
then runs those very commands itself, only with a free port in place of the default ``PORT`` (8545).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chain.ids import OrgId
from network.certificates import ca_bundle_pem
from network.description import load_description
from tests.e2e.readme import run_examples
from tests.support.up_process import CHAIN_ID, START_TIMEOUT, UpProcess, free_port, free_port_block, rpc_chain_id
from tests.support.wait import wait_until

# The first case starts a whole consortium (its setup runs `make run`'s init, then the case `up` and the README's
# examples): on 2026-12-06, on this project's 2-core machine at load averages of 11 to 21, its setup took 53 s and 97 s
# and the case ran past pytest's default 300 s, counted from the setup's start, at 247 s and 204 s in. So 600 s, as
# tests/integration/cli/test_cli_sm.py allows its consortium's start.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
FOUNDERS = "bjic-cloud, jinghua-sec, yanshan-sec, yongding-sec, tonghui-sec, shuzhi-tech, bjcm-supervision"


def make(*args: str, env: dict[str, str]) -> str:
    r = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, f"make {' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def make_env() -> dict[str, str]:
    """A user's environment with no consortium settings of its own, plus what the Makefile exports."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_") or k == "CONSORTIUM_ANVIL"}
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    passphrase = make(
        "-s", "--eval", 'print-passphrase: ; @printf "%s" "$$CONSORTIUM_PASSPHRASE"', "print-passphrase", env=env
    )
    assert passphrase, "the Makefile exports no CONSORTIUM_PASSPHRASE"
    env["CONSORTIUM_PASSPHRASE"] = passphrase
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class Recipe:
    """What ``make run DATA=<data>`` runs: the init line (a shell line) and the ``consortium up`` command."""

    data: Path
    init_line: str
    up_argv: list[str]
    env: dict[str, str]

    def init(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", self.init_line],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def up(self, port: int) -> UpProcess:
        return UpProcess([*self.up_argv, "--port", str(port)], self.env, port, cwd=REPO)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory, make_env: dict[str, str]) -> Recipe:
    data = tmp_path_factory.mktemp("make-run") / "demo-data"
    printed = make("-n", "-s", "run", f"DATA={data}", env=make_env).splitlines()
    # Whatever else make would do first (pip install, npm ci), the target's own recipe is these two lines.
    lines = [line for line in printed if "/consortium init " in line or "/consortium up " in line]
    assert len(lines) == 2, lines
    init_line, up_line = lines
    assert init_line.startswith(f"test -f {data}/consortium.json || "), init_line
    assert init_line.endswith(f" init {data} --demo"), init_line
    up_argv = shlex.split(up_line)
    assert up_argv[1:] == ["up", str(data), "--port", "8545"], up_line
    up_argv = up_argv[:3]
    consortium = REPO / up_argv[0]
    if not consortium.is_file():
        pytest.skip(f"{up_argv[0]} is missing: run `make install` first")
    return Recipe(data, init_line, [str(consortium), *up_argv[1:]], make_env)


@pytest.fixture(scope="module")
def first_init(recipe: Recipe) -> subprocess.CompletedProcess[str]:
    """The first `make run`'s init step, which makes the consortium: once for the module, whose tests each run the
    recipe's init line again (then a step that does nothing) and `up` on it (some 15 s of CPU saved)."""
    return recipe.init()


def test_make_run_starts_the_demo_consortium(recipe: Recipe, first_init: subprocess.CompletedProcess[str]) -> None:
    data = recipe.data
    r = first_init
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert "initialised consortium 'beijing-capital-market-pilot'" in r.stdout, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    described = (data / "consortium.json").stat().st_mtime_ns

    # A second `make run` keeps the existing consortium: the init step does nothing.
    r = recipe.init()
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert (data / "consortium.json").stat().st_mtime_ns == described

    port = free_port_block()
    url = f"https://127.0.0.1:{port}"
    up = recipe.up(port)
    try:
        summary = up.wait_for_summary(plain_rpc=False)
        text = "\n".join(summary)
        assert summary[0] == "Consortium Ledger: beijing-capital-market-pilot", text
        assert f"JSON-RPC {url}  (chain id {CHAIN_ID}," in text, text
        assert f"  members    7: {FOUNDERS}" in summary, text
        assert "3 service centers, 20 units, 83 APIs" in text, text
        # The chain's JSON-RPC is for members only: no certificate gets the node's 401, a member's reads.
        outsider = ssl.create_default_context(cadata=ca_bundle_pem(load_description(data)))
        refused = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, verify=outsider)
        assert refused.status_code == 401 and "no_certificate" in refused.text, refused.text
        assert rpc_chain_id(url, member_chain_context(data, recipe.env)) == CHAIN_ID
        notary = f"https://127.0.0.1:{port + 1}"
        assert f"  notary     {notary}  (log beijing-capital-market-pilot/audit-log;" in text, text
        assert "  witnesses  7: bjic-cloud http://127.0.0.1:" in text, text
        # The notary asks all seven witnesses and the policy (4 of 7 with the regulator) publishes a checkpoint.
        # It serves members only over mutual TLS: no handshake without a member's certificate. Its figures go to the
        # consortium's monitoring (the monitor token `up` wrote).
        with pytest.raises(httpx.TransportError):
            httpx.get(notary + "/healthz", verify=outsider, timeout=5)
        as_member = member_notary_context(data, recipe.env)
        assert httpx.get(notary + "/healthz", verify=as_member, timeout=5).json()["ok"] is True  # with its figures
        monitor = {"Authorization": "Bearer " + (data / "notary" / "monitor.token").read_text().strip()}

        def witnessed() -> dict[str, Any] | None:
            health: dict[str, Any] = httpx.get(notary + "/healthz", headers=monitor, verify=as_member, timeout=5).json()
            statuses = {w["status"] for w in health["witnesses"].values()}
            return health if len(health["witnesses"]) == 7 and statuses == {200} and health["published_ms"] else None

        wait_until(witnessed, "7 witnesses answering 200 and a checkpoint published", 30, every=0.2)
        # A member's certificate reads the log (its own events; the checkpoints and tiles every member reads).
        checkpoint = httpx.get(notary + "/checkpoint", verify=as_member, timeout=5)
        assert checkpoint.text.startswith("beijing-capital-market-pilot/audit-log\n"), checkpoint.text

        check_gateways(data, summary, notary, recipe.env, port)
        check_explorer(data, summary, port)
        check_privacy(data, summary, notary, recipe.env, port)
        # Every example of the README works against it, as a reader types it.
        assert run_examples(data, port, recipe.env, data.parent / "reader") >= 12

        # The summary's own hint is a command that works as printed.
        hint = next(line for line in summary if line.strip().endswith(" grant list"))
        hint_argv = shlex.split(hint.strip().removeprefix("try").strip())
        assert hint_argv[:5] == ["consortium", "--dir", str(data), "--chain-url", url], hint
        r = subprocess.run(
            [recipe.up_argv[0], *hint_argv[1:]],
            cwd=REPO,
            env=recipe.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
        assert len(r.stdout.splitlines()) >= 21, r.stdout  # the demo's 21 grants
    except BaseException:
        up.kill()
        raise

    code = up.stop()
    assert code == 0, f"`consortium up` exited {code} on SIGTERM:\n{up.output()}"
    assert up.stdout[-1] == "stopping", up.output()
    assert (data / "nodes" / "bjic-cloud" / "chaindata" / "STORE").is_file()
    assert rpc_chain_id(url, member_chain_context(data, recipe.env)) is None, "the chain still answers after `up`"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"https://127.0.0.1:{port + 1}/healthz", verify=as_member, timeout=2)


def member_chain_context(data: Path, env: dict[str, str]) -> ssl.SSLContext:
    """A member's client context for the nodes: jinghua-sec's admin identity, trusting the member CAs."""
    from network.identity import OrgPaths
    from network.nodeaccess import client_tls

    paths = OrgPaths.of(data, OrgId("jinghua-sec"))
    passphrase = env["CONSORTIUM_PASSPHRASE"].encode()
    return client_tls(load_description(data), paths.sign_cert, paths.identity_key, None, passphrase).context()


def member_notary_context(data: Path, env: dict[str, str]) -> ssl.SSLContext:
    """A member's client context for the notary: jinghua-sec's log@ identity (`up` issued it for its gateway)."""
    from network.logsetup import notary_client_tls

    return notary_client_tls(data, load_description(data), "jinghua-sec", env["CONSORTIUM_PASSPHRASE"].encode())


def check_explorer(data: Path, summary: list[str], port: int) -> None:
    """The summary names the explorer and the demo logins; the regulator's token opens it and shows the live
    calls between members, another firm's token sees only its own."""
    explorer = f"http://127.0.0.1:{port + 60}"
    assert any(line.startswith(f"  explorer   {explorer}  (API {explorer}/api/docs;") for line in summary), summary
    logins = data / "explorer" / "logins"
    assert any(str(logins / "inspector@bjcm-supervision.token") in line for line in summary), summary
    regulator = {"Authorization": "Bearer " + (logins / "inspector@bjcm-supervision.token").read_text().strip()}
    officer = {"Authorization": "Bearer " + (logins / "compliance@yanshan-sec.token").read_text().strip()}
    assert httpx.get(explorer + "/", timeout=10).text.startswith("<!doctype html>")
    assert httpx.get(explorer + "/api/v1/calls", timeout=10).status_code == 401

    def two_callers() -> bool:
        calls = httpx.get(explorer + "/api/v1/calls?limit=200", headers=regulator, timeout=10).json()["calls"]
        return len({r["caller_org"] for r in calls if r["center"] != "explorer"}) >= 2

    wait_until(two_callers, "calls of two firms in the explorer", 60, every=0.5)
    own = httpx.get(explorer + "/api/v1/calls?limit=200", headers=officer, timeout=10).json()["calls"]
    assert all("yanshan-sec" in (r["caller_org"], r["provider_org"]) for r in own), own


def check_gateways(data: Path, summary: list[str], notary: str, env: dict[str, str], port: int) -> None:
    """The summary's curl line works as printed (an allowed call through the provider's gateway, with its event); nginx
    in auth_request mode in front of the same service lets in and refuses calls, each with an event; the demo traffic
    reaches the log. A call allowed and one denied, each to a receipt, a cosigned and anchored checkpoint and evidence
    that verifies offline, and on through the explorer and the verifiers, is the end-to-end test of each suite
    (tests/support/end_to_end.py), which runs on the consortium of tests/integration/cli/test_cli.py."""
    text = "\n".join(summary)
    assert "  gateways   6 (mutual TLS): bjic-cloud https://localhost:" in text, text
    call = next(line for line in summary if line.strip().startswith("call "))
    r = subprocess.run(
        ["bash", "-c", call.strip().removeprefix("call").strip() + " -sS -i"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200"), (call, r.stdout[:500], r.stderr)
    assert "Consortium-Event-Id: " in r.stdout, r.stdout[:800]

    check_nginx_auth_request(data, env, port, notary)

    # The demo traffic flows through the gateways into the log.

    def recorded() -> bool:
        outcomes: list[int] = [
            httpx.get(f"http://127.0.0.1:{port + 40 + i}/healthz", timeout=5).json()["outbox"]["last_seq"]
            for i in range(6)
        ]
        return sum(outcomes) >= 12

    wait_until(recorded, "12 calls recorded by the six gateways", 60, every=1)


def check_privacy(data: Path, summary: list[str], notary: str, env: dict[str, str], port: int) -> None:
    """The summary's ``psi job`` line, run as printed, finds the customers the demo's two lists share, through
    the owner's gateway (yanshan-sec, the fifth provider), and each of its three steps is an allowed call of
    jinghua-sec under the grant, logged, cosigned and anchored, with evidence that verifies offline."""
    from network.description import load_description
    from sdk import MemberClient

    gateway = f"https://localhost:{port + 24}"
    text = "\n".join(summary)
    offer = f"  privacy    customer-ids of yanshan-sec (PSI behind its gateway {gateway}), granted to jinghua-sec"
    assert offer in text, text
    line = next(line for line in summary if line.strip().startswith("psi job "))
    argv = shlex.split(line.strip().removeprefix("psi job").strip())
    assert argv[:3] == ["consortium", "--dir", str(data)], line
    r = subprocess.run(
        [str(REPO / ".venv" / "bin" / "consortium"), *argv[1:], "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, f"{line}\n{r.stdout}\n{r.stderr}"
    job = json.loads(r.stdout)
    lists = {  # one identifier a line, after lines of comment
        org: {
            line
            for line in (data / "orgs" / org / "privacy" / "demo-customers.txt").read_text().splitlines()
            if line and not line.startswith("#")
        }
        for org in ("yanshan-sec", "jinghua-sec")
    }
    shared = lists["yanshan-sec"] & lists["jinghua-sec"]
    assert (
        (job["intersection"], job["client_input"], job["server_input"])
        == (600, 3000, 4000)
        == (len(shared), len(lists["jinghua-sec"]), len(lists["yanshan-sec"]))
    ), job
    result = json.loads((Path(job["files"]) / "result.set.json").read_text())
    assert set(result["identifiers"]) == shared
    owner_record = data / "orgs" / "yanshan-sec" / "privacy" / "jobs" / job["job_id"] / "record.json"
    assert owner_record.read_bytes() == Path(job["record"]).read_bytes()

    description = load_description(data)
    passphrase = env["CONSORTIUM_PASSPHRASE"].encode()
    apis = {"terms": "psi-terms", "request": "psi-request", "record": "psi-record"}
    with MemberClient.from_directory(
        data, "jinghua-sec", name="client", passphrase=passphrase, notary_url=notary
    ) as client:
        assert set(job["events"]) == set(apis), job
        for event_id in job["events"].values():
            client.receipt(event_id, wait_s=30)
        bundle = client.evidence(job["events"]["request"], wait_s=90, anchored=True)
        report = client.verify(bundle, description, chain_tls=client.chain_tls)
        assert report.ok and report.complete, report.to_text()
        entry = json.loads(bundle.entry)
        assert (entry["decision"], entry["api"], entry["asset_id"]) == ("allow", apis["request"], "customer-ids")
        assert (entry["caller_org"], entry["grant_id"]) == ("jinghua-sec", job["grant_id"]), entry


def check_nginx_auth_request(data: Path, env: dict[str, str], port: int, notary: str) -> None:
    """A real nginx (Debian's) terminates mutual TLS in front of the demo service and asks a gateway in
    auth_request mode about every call: allowed → the service's answer with the event headers; denied → 403
    JSON with the reason; no certificate → 401; and each call's event reaches the notary."""
    from gateway.nginx import NginxSite, render
    from gateway.service import tls_paths
    from sdk import MemberClient

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (`make test` installs it)")
        pytest.skip("nginx is not installed")
    auth_port, admin_port, nginx_port = free_port(), free_port(), free_port()
    runtime = data / "nginx"
    runtime.mkdir()
    password = runtime / "pass"
    password.write_text(env["CONSORTIUM_PASSPHRASE"] + "\n")
    password.chmod(0o600)
    cert, key = tls_paths(data, "bjic-cloud")
    (runtime / "nginx.conf").write_text(
        render(NginxSite(nginx_port, auth_port, f"127.0.0.1:{port + 2}", cert, key, password, runtime))
    )
    auth = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "--as",
            "bjic-cloud",  # its reads of the members-only nodes: the provider's admin identity
            "gateway",
            "serve",
            str(data),
            "--org",
            "bjic-cloud",
            "--name",
            "nginx",
            "--mode",
            "auth",
            "--port",
            str(auth_port),
            "--admin-port",
            str(admin_port),
            "--notary-url",
            notary,
            "--chain-url",
            f"https://127.0.0.1:{port}",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(runtime / "gateway.log").open("wb"),
    )
    server = subprocess.Popen([nginx, "-c", str(runtime / "nginx.conf"), "-p", str(runtime)], stderr=subprocess.PIPE)
    try:

        def admin_serving() -> bool:
            assert auth.poll() is None, (runtime / "gateway.log").read_text()
            return httpx.get(f"http://127.0.0.1:{admin_port}/healthz", timeout=1).status_code == 200

        wait_until(admin_serving, "the gateway's admin endpoint", 60, every=0.2, ignoring=(httpx.HTTPError,))
        url = f"https://localhost:{nginx_port}"
        passphrase = env["CONSORTIUM_PASSPHRASE"].encode()
        with MemberClient.from_directory(
            data, "jinghua-sec", name="client", passphrase=passphrase, notary_url=notary
        ) as c:
            allowed = c.call(url, "GET", "/v1/market/quotes/level2", purpose="trading", params={"symbol": "000001.SZ"})
            assert allowed.status == 200, (allowed.status, allowed.content[:300])
            assert allowed.gateway_id == "bjic-cloud/nginx" and allowed.event_id
            assert allowed.json()["meta"]["caller_org"] == "jinghua-sec"
            denied = c.call(url, "GET", "/v1/market/quotes/level2", purpose="marketing")
            assert (denied.status, denied.denial_reason) == (403, "no_grant"), denied.content
            assert json.loads(denied.content)["event_id"] == denied.event_id
            for result in (allowed, denied):
                assert result.event_id is not None
                receipt = c.receipt(result.event_id, wait_s=30)
                assert receipt.event_id == result.event_id, receipt
        anonymous = httpx.get(url + "/v1/market/quotes/level2", verify=False, headers={"Consortium-Purpose": "trading"})
        assert anonymous.status_code == 401 and anonymous.json()["reason"] == "no_certificate", anonymous.text
    finally:
        server.terminate()
        auth.terminate()
        server.wait(10)
        auth.wait(30)


def test_sigterm_while_up_starts_leaves_no_chain_running(
    recipe: Recipe, first_init: subprocess.CompletedProcess[str]
) -> None:
    """Regression: `up` once installed its SIGTERM handler only after printing its summary, so a SIGTERM while
    it started killed it at once and left its chain running, orphaned, on the port."""
    assert first_init.returncode == 0, f"{first_init.stdout}\n{first_init.stderr}"
    r = recipe.init()
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    port = free_port_block()
    url = f"https://127.0.0.1:{port}"
    member = member_chain_context(recipe.data, recipe.env)
    up = recipe.up(port)
    try:
        # the node answers before `up` has read the catalogue and printed its summary: stop it in that window,
        # as a service manager (or a test harness) would if it gave up waiting.

        def node_answers() -> bool:
            assert up.process.poll() is None, up.output()
            return rpc_chain_id(url, member) == CHAIN_ID

        wait_until(node_answers, "the chain node to answer", START_TIMEOUT, every=0.005)
        code = up.stop()
        if any(line.lstrip().startswith("stop ") for line in up.stdout):
            pytest.skip("the SIGTERM came only after `up` had printed its summary: the start-up window was missed")
        wait_until(  # the deadline bounds a hang: an orphaned chain answers for ever
            lambda: rpc_chain_id(url, member) is None,
            f"the chain at {url} to stop (`consortium up` exited {code} on SIGTERM)",
            30.0,
            every=0.05,
        )
    finally:
        up.kill()  # an orphaned chain would still be in the process group of `up`
