"""``make bench-revocation``: how long after a revocation on chain a gateway refuses the calls it revoked.

The product says a revocation is refused "within one block and a poll" (``docs/trust.md``, ``docs/decisions.md``)
and "within the poll interval after the block is sealed, well within one block time" (``docs/gateway.md``,
"Cache"). This measures it, on a real chain and a real gateway:

* the chain is our node as a process (``consortium node``, as ``consortium up`` starts it, one validator sealing
  alone, a block at most every ``--block-time`` seconds, 1 s by default as ``up``'s), with the contracts and the
  five founders of the tests' consortium, the provider ``alpha``'s asset ``eq-quotes`` and its API ``GET
  /v1/quotes``;
* the gateway is ``consortium gateway serve`` of ``alpha`` as a process, at its default poll interval (0.1 s:
  the interval is the product's, this bench does not set it), in front of a loopback upstream; its notary is
  not running, so its events stay in its outbox (nothing it ships is timed here).

For each kind of revocation, ``--trials`` times (20 by default): a caller of ``beta`` (mutual TLS, one keep-alive
connection, as a service calls) calls the gateway every ``--every`` seconds (10 ms) and is answered 200; then

* ``grant``: the grantor ``alpha`` revokes the grant the caller uses (a fresh grant each trial);
* ``suspension``: the regulator suspends ``beta`` (reinstated, and answered 200 again, before the next trial);
* ``certificate``: ``beta`` revokes the caller's certificate on chain (its serial in the TrustDirectory; a
  fresh certificate each trial);

and the time is taken from the moment the revoking transaction's receipt is seen (polled every 10 ms, as every
command waits) and from its block's timestamp (whole seconds: up to a second early) to the first answer refused
for that reason (``grant_revoked``, ``member_suspended``, ``certificate_revoked``); also how many calls sent
after the receipt was seen were still let through. p50, p95 and max per kind, in ms and in blocks (the time over
the block period). A gateway key retired on chain is not measured: it is the notary that refuses a batch under
it, not the gateway a call.

With ``--load C`` the gateway is kept busy meanwhile: ApacheBench (``ab -k -c C``, mutual TLS with a second
certificate of ``beta``, ``load``, under the grant the suspension and certificate trials use, which no grant trial
revokes) calls it as fast as it answers, in a process of its own, from before the first trial to after the last.
A revocation is then measured while the gateway's event loop and its chain watcher share the process (and the
machine's two cores) with that traffic. The load's calls per second and its refused answers (the suspension
trials refuse it too) are reported beside the figures.

Figures go to stdout and to ``bench/results/revocation.json`` (``revocation_load.json`` with ``--load``), with the
date, the load average and the command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import ab_figures, percentile, print_table, write_client_pem, write_results

if TYPE_CHECKING:
    from tests.integration.gateway.gateway_world import Answer, Caller, World

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "revocation.json"
LOAD_CALLS = 5_000_000
LOADED_RESULTS = ROOT / "bench" / "results" / "revocation_load.json"  # with --load

NODE_PASSPHRASE = b"benchmark-passphrase"
KINDS = ("grant", "suspension", "certificate")
REASONS = {"grant": "grant_revoked", "suspension": "member_suspended", "certificate": "certificate_revoked"}


# -- the statistics (pure) --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One call of the caller: when it was sent and answered (wall clock, seconds), and the refusal reason (None
    for an answer let through)."""

    sent: float
    answered: float
    status: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class Trial:
    """One revocation: when its receipt was seen, its block's timestamp, and the first refusal for ``reason``."""

    receipt_seen: float
    block_timestamp: int
    refused_at: float
    allowed_after_receipt: int

    @property
    def from_receipt_ms(self) -> float:
        return (self.refused_at - self.receipt_seen) * 1000

    @property
    def from_block_ms(self) -> float:
        return (self.refused_at - self.block_timestamp) * 1000


class NeverRefusedError(RuntimeError):
    """The caller was never refused for the reason the revocation should give."""


def first_refusal(calls: Sequence[Call], reason: str, receipt_seen: float, block_timestamp: int) -> Trial:
    """The trial the calls show: the first answer refused with ``reason``, and the calls sent after the receipt was
    seen that were still let through before it. Any other refusal is an error (the bench measured something else)."""
    allowed = 0
    for call in calls:
        if call.reason is None:
            allowed += call.sent >= receipt_seen
            continue
        if call.reason != reason:
            raise NeverRefusedError(f"a call was refused with {call.reason!r} (status {call.status}), not {reason!r}")
        return Trial(receipt_seen, block_timestamp, call.answered, allowed)
    raise NeverRefusedError(f"no call was refused with {reason!r} ({len(calls)} calls)")


def summarize(values_ms: Sequence[float], block_s: float) -> dict[str, float]:
    """p50, p95 and max of ``values_ms``, in ms and in blocks of ``block_s`` seconds."""
    if not values_ms:
        raise ValueError("no values to summarize")
    figures = {"p50": percentile(values_ms, 0.5), "p95": percentile(values_ms, 0.95), "max": max(values_ms)}
    out: dict[str, float] = {}
    for name, ms in figures.items():
        out[f"{name}_ms"] = round(ms, 1)
        out[f"{name}_blocks"] = round(ms / (block_s * 1000), 3)
    return out


# -- the stack --------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """The chain node process, the deployed consortium on it, the directory, the upstream and the gateway."""

    world: World
    chain: Any  # GatewayChain over the node process
    gateway_url: str
    stops: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        _stop_all(self.stops)


def _stop_all(stops: Sequence[Callable[[], None]]) -> None:
    for stop in reversed(stops):
        try:
            stop()
        except Exception as exc:  # stop the rest whatever one did
            print(f"stopping: {exc}", file=sys.stderr)


def start_stack(work: Path, block_time: float) -> Stack:
    """Our node as a process, the tests' consortium and catalogue on it, and ``alpha``'s gateway as a process."""
    import httpx

    from bench.chain import CHAIN_ID, node_directory
    from network.localchain import start_node
    from tests.integration.gateway.gateway_chain import (
        API,
        ASSET,
        CENTER,
        GRANTEE,
        METHOD,
        OPERATOR,
        PROVIDER,
        PURPOSE,
        ROUTE,
        UNIT,
        GatewayChain,
    )
    from tests.integration.gateway.gateway_world import PASS, LoopThread, Upstream, build_world
    from tests.support.consortium import Keys, deploy_test_consortium
    from tests.support.up_process import free_port

    class NodeProcessChain(GatewayChain):
        @property
        def backend(self) -> Any:
            return self.consortium.backend

    stops: list[Callable[[], None]] = []
    try:
        keys = Keys.create()
        directory = node_directory(keys.orgs[OPERATOR])
        stops.append(lambda: shutil.rmtree(directory, ignore_errors=True))
        node = start_node(directory, CHAIN_ID, NODE_PASSPHRASE, block_time=block_time)
        stops.append(node.stop)  # stopped first (stops run in reverse), then its directory removed
        consortium = deploy_test_consortium(node.backend, keys)
        chain = NodeProcessChain(consortium, grant_id="")
        consortium.assets.add_center(chain.signers[OPERATOR], CENTER, "Market data")
        consortium.assets.add_unit(chain.signers[OPERATOR], UNIT, CENTER, "Equity quotes")
        chain.register_asset(ASSET, PROVIDER)
        chain.register_api(API, ROUTE, METHOD)
        chain.grant_id = chain.grant(GRANTEE, PURPOSE)  # what the suspension and certificate trials call under
        world = build_world(work / "consortium", chain)
        loop = LoopThread()
        stops.append(loop.close)
        upstream = Upstream(loop)
        stops.append(upstream.close)
        port, admin_port, notary_port = free_port(), free_port(), free_port()
        log = work / "gateway.log"
        argv = [
            sys.executable, "-m", "cli.main", "gateway", "serve", str(world.root), "--org", PROVIDER,
            "--port", str(port), "--admin-port", str(admin_port), "--upstream", upstream.url,
            "--notary-url", f"http://127.0.0.1:{notary_port}",
        ]  # fmt: skip  # no --poll: the product's default
        env = {**os.environ, "CONSORTIUM_PASSPHRASE": PASS.decode(), "PYTHONPATH": str(ROOT)}
        with log.open("ab") as out:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=out)

        def stop_gateway() -> None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

        stops.append(stop_gateway)
        end = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError("the gateway exited:\n" + log.read_text()[-3000:])
            try:
                if httpx.get(f"http://127.0.0.1:{admin_port}/healthz", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > end:
                raise RuntimeError("the gateway did not serve in 120 s:\n" + log.read_text()[-3000:])
            time.sleep(0.1)
        return Stack(world, chain, f"https://localhost:{port}", stops)
    except BaseException:
        _stop_all(stops)
        raise


# -- the load ---------------------------------------------------------------------------------------------------


class Load:
    """``ab -k -c concurrency`` against the gateway in a process of its own, as ``beta``'s ``load`` certificate
    under the trials' base grant, until :meth:`stop` (SIGINT: ab then prints what it measured so far)."""

    def __init__(self, stack: Stack, work: Path, concurrency: int) -> None:

        from chain.ids import OrgId
        from gateway.headers import PURPOSE_HEADER
        from network.identity import issue_identity
        from tests.integration.gateway.gateway_chain import GRANTEE, PURPOSE, ROUTE
        from tests.integration.gateway.gateway_world import PASS

        ab = shutil.which("ab")
        if ab is None:
            raise RuntimeError("--load needs ApacheBench (ab, Debian's apache2-utils: make system-packages)")
        issue_identity(stack.world.root, OrgId(GRANTEE), "load", PASS)
        identity = stack.world.identity(GRANTEE, "load")
        pem = write_client_pem(identity.cert, identity.key, PASS, work / "load.pem")
        self.concurrency = concurrency
        self._started = time.monotonic()
        self._out = work / "load.out"
        # ab keeps a record per call it may make (-n): 5 million is about an hour at this gateway's pace, 0.2 GB
        # -t before -n: -t sets the number of calls to 50,000 (ab's "-t implies -n 50000"), a later -n raises it
        argv = [ab, "-q", "-k", "-r", "-c", str(concurrency), "-t", str(24 * 3600), "-n", str(LOAD_CALLS),
                "-E", str(pem), "-H", f"{PURPOSE_HEADER}: {PURPOSE}", f"{stack.gateway_url}{ROUTE}"]  # fmt: skip
        with self._out.open("wb") as out:
            self._process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> dict[str, Any]:
        """Stop ab and read its figures: calls per second, calls, non-2xx answers, and calls that failed (no answer:
        connection, receive and other errors; an answer only of another length is none)."""
        seconds = time.monotonic() - self._started
        if self._process.poll() is not None:
            raise RuntimeError(f"the load (ab) stopped early:\n{self._out.read_text()[-1500:]}")
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        figures = ab_figures(self._out.read_text())
        if figures["complete"] is None:
            raise RuntimeError(f"the load (ab) printed no figures:\n{self._out.read_text()[-1500:]}")
        return {
            "concurrency": self.concurrency,
            "seconds": round(seconds, 1),
            "calls": int(figures["complete"]),
            "calls_per_s": figures["calls_per_s"],
            # ab counts an answer of another length than its first as failed: the refusals are, and nothing else
            "failed": None if figures["failed"] is None else int(figures["failed"] - (figures["failed_length"] or 0)),
            "non_2xx": int(figures["non_2xx"] or 0),
        }


# -- one trial --------------------------------------------------------------------------------------------------


def _until_allowed(caller: Caller, url: str, purpose: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while True:
        answer = caller.call(url, purpose=purpose)
        if answer.status == 200:
            return
        if time.monotonic() > end:
            raise RuntimeError(f"the gateway still refuses ({answer.status} {answer.reason}) after {timeout:.0f} s")
        time.sleep(0.05)


class _Calling:
    """Calls the gateway every ``every`` seconds in a thread, until stopped or refused ``stop_after`` times."""

    def __init__(self, caller: Caller, url: str, purpose: str, every: float) -> None:
        self.calls: list[Call] = []
        self._caller, self._url, self._purpose, self._every = caller, url, purpose, every
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="revocation-caller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                sent = time.time()
                answer: Answer = self._caller.call(self._url, purpose=self._purpose)
                self.calls.append(Call(sent, time.time(), answer.status, answer.reason))
                if answer.status != 200:
                    return  # the first refusal is all a trial needs
                self._stop.wait(max(0.0, sent + self._every - time.time()))
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def wait_refused(self, timeout: float) -> None:
        self._thread.join(timeout)

    def stop(self) -> list[Call]:
        self._stop.set()
        self._thread.join(30)
        if self.error is not None:
            raise RuntimeError(f"the caller failed: {self.error!r}") from self.error
        return self.calls


def run_trial(stack: Stack, kind: str, index: int, every: float, timeout: float = 30.0) -> Trial:
    """Set up what ``kind`` revokes, call until allowed, start calling, revoke, and find the first refusal."""
    from cryptography import x509

    from chain.ids import OrgId
    from network.identity import issue_identity
    from tests.integration.gateway.gateway_chain import GRANTEE, PROVIDER, PURPOSE, REGULATOR
    from tests.integration.gateway.gateway_world import PASS, Caller

    chain, world, url = stack.chain, stack.world, stack.gateway_url
    purpose = PURPOSE
    identity = world.identity(GRANTEE)
    revoke: Callable[[], Any]
    if kind == "grant":
        purpose = f"revocation-bench-{index}"
        grant_id = chain.grant(GRANTEE, purpose)
        revoke = lambda: chain.consortium.grants.revoke(chain.signers[PROVIDER], bytes.fromhex(grant_id[2:]), 1)  # noqa: E731
    elif kind == "suspension":
        revoke = lambda: chain.consortium.registry.suspend(chain.signers[REGULATOR], GRANTEE)  # noqa: E731
    elif kind == "certificate":
        issue_identity(world.root, OrgId(GRANTEE), f"bench-{index}", PASS)
        identity = world.identity(GRANTEE, f"bench-{index}")
        serial = x509.load_pem_x509_certificate(identity.cert.read_bytes()).serial_number
        revoke = lambda: chain.consortium.trust.revoke_serial(chain.signers[GRANTEE], serial)  # noqa: E731
    else:
        raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    with Caller(world, identity) as caller:
        _until_allowed(caller, url, purpose)
        calling = _Calling(caller, url, purpose, every)
        time.sleep(0.2)  # some calls let through before the revocation is sent
        result = revoke()
        receipt_seen = time.time()
        # revoke_serial answers the record's index, not the receipt; nothing else transacts meanwhile (the gateway
        # only reads), so the head is the revoking transaction's block
        number = int(chain.backend.web3.eth.block_number) if kind == "certificate" else int(result["blockNumber"])
        block_timestamp = int(chain.backend.web3.eth.get_block(number)["timestamp"])
        calling.wait_refused(timeout)
        calls = calling.stop()
    trial = first_refusal(calls, REASONS[kind], receipt_seen, block_timestamp)
    if kind == "suspension":
        chain.consortium.registry.reinstate(chain.signers[REGULATOR], GRANTEE)
        with Caller(world, world.identity(GRANTEE)) as caller:
            _until_allowed(caller, url, purpose)
    return trial


# -- the run ----------------------------------------------------------------------------------------------------


def gateway_poll_s() -> float:
    """The gateway's poll interval: ``consortium gateway serve --poll``'s default, which this bench leaves alone."""
    from cli.gateway import gateway_serve

    (default,) = (p.default for p in gateway_serve.params if p.name == "poll_s")
    return float(default)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="revocations of each kind (default 20)")
    parser.add_argument("--every", type=float, default=0.01, help="seconds between the caller's calls (0.01)")
    parser.add_argument("--block-time", type=float, default=1.0, help="the node's block period in seconds (1.0)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument(
        "--load", type=int, default=0, metavar="C", help="keep the gateway busy with C concurrent callers (ab; 0: none)"
    )
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    kinds = [k for k in args.kinds.split(",") if k]
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown kind(s) {', '.join(sorted(unknown))}: one of {', '.join(KINDS)}")
    poll_s = gateway_poll_s()
    load_before = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="bench-revocation-"))
    results: dict[str, Any] = {}
    rows = []
    try:
        started = time.monotonic()
        stack = start_stack(work, args.block_time)
        print(f"node process (block period {args.block_time} s) and gateway process (poll {poll_s} s) up "
              f"in {time.monotonic() - started:.1f} s", flush=True)  # fmt: skip
        load = Load(stack, work, args.load) if args.load > 0 else None
        load_figures: dict[str, Any] | None = None
        try:
            for kind in kinds:
                trials = []
                for i in range(args.trials):
                    trial = run_trial(stack, kind, i, args.every)
                    trials.append(trial)
                    print(f"  {kind} {i + 1}/{args.trials}: {trial.from_receipt_ms:.0f} ms after the receipt, "
                          f"{trial.from_block_ms:.0f} ms after the block's timestamp, "
                          f"{trial.allowed_after_receipt} call(s) let through after it", flush=True)  # fmt: skip
                receipt = summarize([t.from_receipt_ms for t in trials], args.block_time)
                block = summarize([t.from_block_ms for t in trials], args.block_time)
                results[kind] = {
                    "reason": REASONS[kind],
                    "trials": len(trials),
                    "from_receipt": receipt,
                    "from_block_timestamp": block,
                    "allowed_after_receipt_max": max(t.allowed_after_receipt for t in trials),
                    "from_receipt_ms": [round(t.from_receipt_ms, 1) for t in trials],
                }
                rows.append([
                    kind,
                    *(f"{receipt[f'{q}_ms']:.0f} ({receipt[f'{q}_blocks']:.2f})" for q in ("p50", "p95", "max")),
                    *(f"{block[f'{q}_ms']:.0f} ({block[f'{q}_blocks']:.2f})" for q in ("p50", "p95", "max")),
                    str(results[kind]["allowed_after_receipt_max"]),
                ])  # fmt: skip
            if load is not None:
                stopping, load = load, None  # stopped once, here, even if stopping it raises
                load_figures = stopping.stop()
        finally:
            try:
                if load is not None:  # the trials failed: ab stopped, whatever it says
                    load.stop()
            finally:
                stack.close()  # the node and the gateway stopped even when stopping ab failed
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = [round(x, 2) for x in os.getloadavg()]
    print_table(
        ["kind", "receipt p50 ms (blocks)", "p95", "max", "block ts p50 ms (blocks)", "p95", "max", "let through"],
        rows,
    )
    print(f"\nblock period {args.block_time} s; gateway poll {poll_s} s; a call every {args.every * 1000:.0f} "
          f"ms; load average {load_before} before, {load_after} after")  # fmt: skip
    if load_figures is not None:
        print(f"under load: ab -c {load_figures['concurrency']} kept the gateway busy for {load_figures['seconds']} s "
              f"at {load_figures['calls_per_s']} calls/s ({load_figures['calls']} calls, "
              f"{load_figures['non_2xx']} refused, {load_figures['failed']} failed)")  # fmt: skip
    out = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "make bench-revocation" + (f" ARGS='{' '.join(given)}'" if given else ""),
        "cpus": os.cpu_count(),
        "chain": "consortium node as a process, one validator",
        "gateway": "consortium gateway serve as a process",
        "block_time_s": args.block_time,
        "gateway_poll_s": poll_s,
        "call_every_s": args.every,
        "load_before": load_before,
        "load_after": load_after,
        "load": load_figures,
        "kinds": results,
        "notes": [
            "from_receipt: from the moment the revoking transaction's receipt was seen (polled every 10 ms)",
            "from_block_timestamp: from its block's timestamp, whole seconds, so up to a second more than the time"
            " since the block was sealed",
            "blocks: the time over the block period; with 20 trials p95 is the largest (bench.common.percentile)",
            "allowed_after_receipt_max: the most calls sent after the receipt was seen and still let through",
        ],
        "not_measured": {"gateway_key": "a retired gateway key is refused by the notary (batches), not by a gateway"},
    }
    print(f"written to {write_results(out, RESULTS if load_figures is None else LOADED_RESULTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
