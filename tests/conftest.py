"""Shared fixtures: one contract test suite, run unchanged against every chain backend.

``backend`` is parametrized over the backends: "eth-tester" in process, "anvil" as a real JSON-RPC node, "node" the
consortium's own node sealing alone and "qbft" four of its nodes as validators agreeing by QBFT over an in-memory
network (``tests.support.consortium.NodeBackend`` and ``QbftBackend``, both served over JSON-RPC on loopback).
``consortium`` gives each test freshly deployed contracts with five founding members ("op", "alpha",
"beta", "gamma", "reg"), a Signer per org and an ``outsider`` that belongs to no member. The consortium is
deployed once per module and backend, and every test runs inside a chain snapshot that is reverted after
it; on the consortium's own nodes, which have no snapshots, each test runs nodes of its own started on copies of
the module's stores (``fork``). Tests never look at which
backend they run on: whatever differs between chains lives here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings

from chain.backend import Backend, EthTesterBackend, RpcBackend
from chain.errors import BackendError
from network.localchain import anvil_binary, start_anvil
from tests.support.consortium import (
    ANVIL_CHAIN_ID,
    Consortium,
    Keys,
    NodeBackend,
    QbftBackend,
    deploy_test_consortium,
    revert_to_snapshot,
    take_snapshot,
)

if TYPE_CHECKING:
    from tests.support.end_to_end import OnSuite

#: Directories whose tests start child processes or bind server sockets; tests/unit/ and tests/property/ never do.
# Hypothesis fails an example that runs longer than 200 ms by default: a property would then fail on a
# loaded machine and pass on an idle one. No test here may depend on the machine's speed, so examples have
# no deadline; a test that needs fewer or more examples says so with its own @settings.
settings.register_profile("consortium", deadline=None)
settings.load_profile("consortium")

PROCESS_DIRECTORIES = frozenset({"integration", "e2e"})

#: Key files written by the tests, in process and by the processes they start, take 10,000 PBKDF2 iterations, the
#: fewest an operator may set, instead of the 200,000 of the default: some 0.024 s of CPU for each file written and
#: opened, on hundreds of files, as a test settings file swaps in a cheap password hasher. The default is tested
#: where it is the subject (``tests/unit/network/test_key_files.py``, ``tests/unit/suite``, the vaults), each test
#: clearing this first. A run may set another count itself.
os.environ.setdefault("CONSORTIUM_KDF_ITERATIONS", "10000")


#: Packages whose tests share one consortium, started for the package and stopped when its last test is done
#: (a package-scoped fixture): their tests form one unit of work, so ``make test`` starts it on one worker only.
SHARED_PACKAGES = ("tests/integration/live/",)


def unit_of_work(nodeid: str) -> str:
    """The unit of work a test belongs to for pytest-xdist: its module, or the package of :data:`SHARED_PACKAGES`
    it is in. A unit runs whole on one worker, so its module- and package-scoped fixtures (a consortium, a node,
    a contract deployment) start once and its tests run in their order."""
    module = nodeid.split("::", 1)[0]
    return next((package for package in SHARED_PACKAGES if module.startswith(package)), module)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``make test``'s two workers take whole units of work (:func:`unit_of_work`), in the order collected (the
    process tests first, the unit tests last, to fill the end; ``--no-loadscope-reorder``)."""
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class UnitScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of_work(nodeid)

    return UnitScheduling(config, log)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``process`` by directory: every test under tests/integration/ and tests/e2e/."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and item.path.relative_to(here).parts[0] in PROCESS_DIRECTORIES:
            item.add_marker(pytest.mark.process)


# -- the path of a call under each suite -----------------------------------------------------------------------

#: The body of the end-to-end test under each suite (tests/support/end_to_end.py), collected in the modules that
#: import it: its asserts are rewritten as a test module's are.
pytest.register_assert_rewrite("tests.support.end_to_end")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking ``suite_consortium`` runs once for each suite whose running consortium its module holds (the
    module-scoped fixture of that suite, ``tests.support.end_to_end.SUITES``), and on that consortium."""
    if "suite_consortium" in metafunc.fixturenames:
        from tests.support.end_to_end import suites_run_by

        metafunc.parametrize("suite_consortium", suites_run_by(metafunc.module), indirect=True)


@pytest.fixture
def suite_consortium(request: pytest.FixtureRequest) -> OnSuite:
    """The module's running consortium of the suite of this case, with what that suite implies
    (``tests.support.end_to_end.OnSuite``)."""
    from tests.support.end_to_end import on_suite

    return on_suite(request)


# -- anvil -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """URL of an anvil process started for this test session (free gas: base fee and gas price 0)."""
    try:
        anvil_binary()
    except BackendError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI must run the anvil tests, never skip them)")
        pytest.skip(str(exc))
    local = start_anvil(ANVIL_CHAIN_ID)
    try:
        yield local.url
    finally:
        local.stop()


# -- backends --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _keys() -> Keys:
    return Keys.create()


BACKENDS = [
    pytest.param("eth-tester", id="eth-tester"),
    pytest.param("anvil", id="anvil", marks=pytest.mark.anvil),
    pytest.param("node", id="node"),
    pytest.param("qbft", id="qbft"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, _keys: Keys) -> Iterator[Backend]:
    """A connected chain; the same tests run on each."""
    chain: Backend
    if request.param == "eth-tester":
        chain = EthTesterBackend(funded_accounts=_keys.addresses())
    elif request.param == "anvil":
        chain = RpcBackend(request.getfixturevalue("anvil_url"))
    elif request.param == "node":
        chain = NodeBackend(_keys.deployer)
    elif request.param == "qbft":
        chain = QbftBackend(_keys.deployer)
    else:  # pragma: no cover - a new backend must be wired in here
        raise AssertionError(f"unknown backend {request.param!r}")
    yield chain
    chain.close()


@pytest.fixture(scope="module")
def _genesis(backend: Backend, _keys: Keys) -> Consortium:
    return deploy_test_consortium(backend, _keys)


@pytest.fixture
def consortium(request: pytest.FixtureRequest, backend: Backend, _keys: Keys) -> Iterator[Consortium]:
    """Fresh contracts for this test: the module's deployment inside a snapshot reverted afterwards."""
    genesis: Consortium = request.getfixturevalue("_genesis")
    if isinstance(backend, NodeBackend):  # the node alone or the four validators: no snapshots on a ledger
        node = backend.fork()  # nodes of the test's own, on copies of the stores the module's deployment left
        try:
            yield genesis.on(node)
        finally:
            node.close()
        return
    snapshot = take_snapshot(backend)
    if snapshot is None:  # no snapshots on this chain: deploy anew
        yield deploy_test_consortium(backend, _keys)
        return
    try:
        yield genesis.with_fresh_signers()
    finally:
        revert_to_snapshot(backend, snapshot)


# -- storage servers -------------------------------------------------------------------------------------


def _server_or_skip(start: Any, what: str) -> Any:
    try:
        return start()
    except (RuntimeError, FileNotFoundError, KeyError, ImportError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{what}: {exc} (CI must run the storage tests, never skip them)")
        pytest.skip(f"{what}: {exc}")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A PostgreSQL server (Debian's package) on 127.0.0.1, one per test worker; ``create_database()`` gives
    each test its own database."""
    from tests.support.servers import PostgresServer

    server = _server_or_skip(lambda: PostgresServer(tmp_path_factory.mktemp("postgres")), "PostgreSQL")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An S3-compatible server (moto's server mode) on 127.0.0.1, one per test worker; ``create_bucket()`` gives
    each test its own bucket."""
    from tests.support.servers import S3Server

    server = _server_or_skip(lambda: S3Server(tmp_path_factory.mktemp("s3")), "the S3 server")
    try:
        yield server
    finally:
        server.stop()
