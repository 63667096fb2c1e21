"""The demo's private set intersection: one firm's customer-identifier set, a grant of it to another firm, and
both firms' made-up customer lists.

``consortium init DIR --demo`` (:func:`load_demo_psi`, a step of ``network.consortium.init_consortium``) writes
the two lists, ``OWNER``'s PSI terms (``sdk.privacy.write_psi_terms``: cap ``MAX_INPUT``, steps under ``STEPS``)
and registers on chain the asset ``ASSET`` (its content digest the SHA-256 of the owner's list file, its metadata
digest the terms document's), its three step APIs in the unit ``UNIT`` and a private grant to ``CLIENT`` for
``PURPOSE`` of ``RUNS`` runs (its terms in the stores of both firms and the regulators, ``network.grantterms``).
``consortium up`` serves the owner's PSI service inside the demo's upstream services (:func:`deferred_demo_psi`),
behind the owner's gateway like its other APIs, and prints the command that runs a job (:func:`run_command`).

The lists (:func:`demo_customers`) are deterministic: ``OWNER_SIZE`` and ``CLIENT_SIZE`` resident identity
numbers (GB 11643-1999, with a valid check character) drawn from a fixed seed, ``SHARED`` of them in both lists.
Their region codes start with ``99``, which GB/T 2260 assigns to no region, so none of them can be a real
person's number.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

from aiohttp import web

# What `consortium up` needs of this module is its names and paths: the rest is imported where it is used.
if TYPE_CHECKING:
    from chain.backend import Backend
    from chain.contracts import Deployment
    from chain.ids import OrgId
    from chain.tx import Signer
    from privacy.asset import Step
    from privacy.service import PsiService

ASSET: Final = "customer-ids"
OWNER: Final = "yanshan-sec"
CLIENT: Final = "jinghua-sec"
PURPOSE: Final = "aml-screening"
UNIT: Final = "compliance-screening"  # a unit of the demo catalogue (institutional business)
STEPS: Final = "/v1/privacy/customer-ids"
API_IDS: Final[dict[Step, str]] = {"terms": "psi-terms", "request": "psi-request", "record": "psi-record"}
OWNER_SIZE: Final = 4_000
CLIENT_SIZE: Final = 3_000
SHARED: Final = 600
MAX_INPUT: Final = 10_000
RUNS: Final = 100
DAYS: Final = 365
CLASSIFICATION: Final = 4  # restricted: a customer list
#: Each firm's list, in ``orgs/<org>/privacy/`` (readable by its owner only).
IDS_FILE: Final = "demo-customers.txt"
_SEED: Final = "consortium-ledger/demo-customers/v1"
_HEADER: Final = (
    "# {org}'s customers in the demo: made-up resident identity numbers (region code 99..., which no region has),\n"
    "# one a line. {count} identifiers.\n"
)


def demo_customers() -> tuple[list[str], list[str]]:
    """(``OWNER``'s list, ``CLIENT``'s list), each in its own made-up order, ``SHARED`` identifiers in both."""
    from privacy.identifiers import cnid_check_character

    rng = random.Random(_SEED)
    drawn: set[str] = set()
    people: list[str] = []
    while len(people) < OWNER_SIZE + CLIENT_SIZE - SHARED:
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(55 * 365))
        digits = f"99{rng.randrange(10_000):04d}{born:%Y%m%d}{rng.randrange(1000):03d}"
        if digits not in drawn:
            drawn.add(digits)
            people.append(f"CNID:{digits}{cnid_check_character(digits)}")
    owner, client = people[:OWNER_SIZE], people[OWNER_SIZE - SHARED :]
    rng.shuffle(owner)
    rng.shuffle(client)
    return owner, client


def ids_path(directory: Path, org: str) -> Path:
    """Where ``org``'s demo customer list is."""
    from gateway.psi import terms_dir

    return terms_dir(directory, org) / IDS_FILE


def _format_list(org: str, identifiers: Sequence[str]) -> bytes:
    return (_HEADER.format(org=org, count=len(identifiers)) + "\n".join(identifiers) + "\n").encode()


def load_demo_psi(
    directory: Path,
    backend: Backend,
    deployment: Deployment,
    signers: dict[OrgId, Signer],
    progress: Callable[[str], None],
    *,
    passphrase: bytes,
    crypto: str = "intl",
) -> None:
    """Write the two lists and the owner's PSI terms, and register the asset, its step APIs and the grant
    (module docstring); after the demo catalogue, whose unit ``UNIT`` the APIs join. The terms are of the suite
    ``crypto`` the consortium is created with (``consortium.json`` is written after this step)."""
    from chain.contracts.grants import PrivateTerms
    from chain.ids import AssetKind, OrgId, Role
    from chain.tx import pipelined
    from network.grantterms import TermsStore, new_record, with_grant_id
    from privacy.asset import STEP_METHODS, terms_digest
    from privacy.jobfiles import write_job_files
    from sdk.privacy import write_psi_terms

    owner_ids, client_ids = demo_customers()
    owner_list = _format_list(OWNER, owner_ids)
    for org, data in ((OWNER, owner_list), (CLIENT, _format_list(CLIENT, client_ids))):
        write_job_files(ids_path(directory, org).parent, {IDS_FILE: data})
    _path, document = write_psi_terms(directory, OWNER, ASSET, MAX_INPUT, STEPS, passphrase, crypto=crypto)
    assets, grants = deployment.assets(backend), deployment.grants(backend)
    owner = signers[OrgId(OWNER)]
    assets.register_asset(
        owner,
        ASSET,
        AssetKind.DATASET,
        hashlib.sha256(owner_list).digest(),
        terms_digest(document),
        CLASSIFICATION,
    )
    with pipelined():
        for step, api in API_IDS.items():
            assets.register_api(owner, api, UNIT, f"{STEPS}/{step}", STEP_METHODS[step], ASSET)
        # as the catalogue's grants: from the earlier of the chain's clock and the wall clock, which gateways use
        now = min(int(backend.web3.eth.get_block("latest")["timestamp"]), int(time.time()))
        # private, as the catalogue's: its terms to the stores of the owner, the client and the regulators
        terms = PrivateTerms.draw(ASSET, OWNER, CLIENT, PURPOSE, now, now + DAYS * 86_400, RUNS)
        record = new_record(terms)
        TermsStore(directory, OWNER).put(record)
        receipt = grants.submit_private_grant(owner, ASSET, terms.key, terms.commitment)
    regulators = [m.org for m in deployment.registry(backend).members() if m.roles & Role.REGULATOR]
    done = with_grant_id(record, grants.private_grant_id_of(receipt))
    for org in dict.fromkeys([OWNER, CLIENT, *regulators]):
        TermsStore(directory, org).put(done)
    progress(
        f"identifier set {ASSET} of {OWNER} ({OWNER_SIZE} made-up customers), granted privately to {CLIENT} for "
        f"{PURPOSE} "
        f"({RUNS} runs; {CLIENT_SIZE} customers of its own, {SHARED} shared)"
    )


def is_demo_psi(directory: Path) -> bool:
    """Whether the consortium in ``directory`` has the demo's identifier set (``init --demo`` wrote it)."""
    from gateway.psi import TERMS_SUFFIX

    owner_list = ids_path(directory, OWNER)
    return (owner_list.parent / f"{ASSET}{TERMS_SUFFIX}").is_file() and owner_list.is_file()


class DeferredPsi:
    """A PSI service the demo's upstream serves under ``steps``, built by ``open`` in a worker thread once the
    server starts: opening one (its keys, the owner's list, the SDK's and the PSI library's imports) takes about
    a second of CPU that the start of the demo's services, on the critical path of ``consortium up``, need not
    wait for. A step that comes earlier waits for it; if opening failed, each step is answered 503
    ``psi_unavailable`` with the reason (and the catalogue's APIs are served all the same)."""

    def __init__(self, steps: str, open_service: Callable[[], PsiService]) -> None:
        self.steps = steps
        self._open = open_service
        self._opened: asyncio.Future[PsiService] | None = None

    def add_routes(self, app: web.Application) -> None:
        from privacy.asset import STEP_METHODS

        for step, method in STEP_METHODS.items():
            app.router.add_route(method, f"{self.steps}/{step}", self._answer(step))
        app.on_startup.append(self._start)

    async def _start(self, _app: web.Application) -> None:
        self._opened = asyncio.ensure_future(asyncio.get_running_loop().run_in_executor(None, self._open))
        self._opened.add_done_callback(self._report)

    def _report(self, opened: asyncio.Future[PsiService]) -> None:
        failed = None if opened.cancelled() else opened.exception()
        if failed is not None:
            print(f"the PSI service of {self.steps} could not be opened: {failed}", file=sys.stderr, flush=True)

    def _answer(self, step: Step) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def answer(request: web.Request) -> web.StreamResponse:
            assert self._opened is not None, "served before the app started"
            try:
                service = await asyncio.shield(self._opened)
            except Exception as exc:  # whatever stopped it, the steps say so and the rest is served
                detail = f"the PSI service of {self.steps} could not be opened: {exc}"
                return web.json_response(
                    {"error": "unavailable", "reason": "psi_unavailable", "detail": detail}, status=503
                )
            return await service.handler(step)(request)

        return answer


def deferred_demo_psi(directory: Path, passphrase: bytes) -> list[DeferredPsi]:
    """The owner's PSI service of the demo's identifier set, opened in the background (:class:`DeferredPsi`), if
    the consortium in ``directory`` has the set; else none."""
    if not is_demo_psi(directory):
        return []

    def open_service() -> PsiService:
        from sdk.privacy import open_psi_service, read_identifiers

        ids = read_identifiers(ids_path(directory, OWNER))
        return open_psi_service(directory, OWNER, ASSET, ids, passphrase)

    return [DeferredPsi(STEPS, open_service)]


def run_command(directory: Path, chain_flag: str = "") -> str:
    """The command that runs a job of ``CLIENT`` on the demo's set through the owner's gateway, as ``up`` prints it."""
    return (
        f"consortium --dir {directory}{chain_flag} privacy run {ASSET} --purpose {PURPOSE} "
        f"--ids {ids_path(directory, CLIENT)} --as {CLIENT}"
    )


__all__ = [
    "ASSET",
    "CLIENT",
    "OWNER",
    "PURPOSE",
    "SHARED",
    "DeferredPsi",
    "deferred_demo_psi",
    "demo_customers",
    "ids_path",
    "is_demo_psi",
    "load_demo_psi",
    "run_command",
]
