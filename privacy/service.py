"""The owner's PSI service: the server side of ``privacy.psi`` behind the owner's gateway, one job per request.

It serves the three steps of ``privacy.asset`` under the asset's base route, as any upstream service of a member
sits behind its gateway: the gateway has authenticated the caller, checked the grant (purpose, window, runs
left) and the request's size against ``max_input``, recorded the call, and names the caller's org in
``Consortium-Caller-Org``. The service checks again what it can check itself:

- ``GET <steps>/terms``: the asset's terms document, byte for byte; ``GET <steps>/terms?grant=<grant id>``: the
  grant's own terms document (``privacy.asset``), to its grantee only (404 ``no_grant_terms`` for a grant that runs
  under the asset's terms);
- ``POST <steps>/request``: the request must name the caller as its client (and the grantee of the grant's own
  terms, if it has some), a job id not seen before and the terms of its grant: the grant's own when the asset's
  document lists some for it, else the asset's (``PsiServer.respond`` refuses other terms or a count over that
  cap); the answer is message 2. Before it answers, the service keeps the job in ``<jobs>/<job id>/open.json``
  (``privacy.jobfiles``: its terms, the hashes and keys the record step checks, and the owner's VRF secret key of
  the job sealed to the asset's job-secret key) and the answer in ``open.response`` beside it, both written and
  fsynced in a staging directory renamed to ``<jobs>/<job id>`` (``publish_job_dir``), so a service started again
  takes the job up at its record step (it recomputes its input commitment from that key and its identifiers, and
  refuses ``job_state_mismatch`` if they changed since). The same request sent again (same bytes: its answer was
  lost to a stop of the service or a broken connection) gets the same answer, from the kept file or from the
  computation under way; another request for that job id is 409 ``job_exists``. A stop before the rename leaves
  no job: the staging directory is removed at start, and the same request is answered afresh;
- ``POST <steps>/record``: the record of a job this service answered, naming the caller as client and, when the
  service knows the members' keys, the caller's published key; the client's signature must verify. The service
  checks every field it knows (``PsiServer.check_record``), countersigns, writes its job files
  (``privacy.jobfiles``: ``record.json``, ``vrf-key.json``, ``input.set.json``, and ``record-step.json`` with the
  id of the record step's event, which its gateway names in ``Consortium-Event-Id``, and ``notary_url`` if given)
  to ``<jobs>/<job id>/`` and answers the record signed by both. The header is the gateway's (it drops any
  ``Consortium-*`` header a caller sends); a service reached without a gateway writes no ``record-step.json``, and
  an event id it was told wrongly fails ``prove-member``'s check of the event's evidence, nothing more.
  ``record.json`` is written last, and ``open.json`` is removed once the files are written. The same record step
  sent again (the record and client signature of the job's ``record.json``, by its client) gets the same
  ``record.json`` bytes, its ``record-step.json`` then naming the new step's event.

Refusals are JSON ``{"error", "reason", "detail"}``: 400 ``psi_malformed``, 403 with the privacy core's reason
(``wrong_terms``, ``input_over_cap``, ``count_mismatch``, ``record_mismatch``) or ``wrong_client``, ``wrong_suite``
(a request or record of another suite than the terms' protocol, ``privacy.suites``),
``wrong_signing_key``, ``bad_signature``, 404 ``unknown_job``, 409 ``job_exists`` (also for the id of a job
whose files are in ``jobs_dir``, so that a restarted service does not answer a finished job again, but the same
request of an open job again; a record step of a finished or expired job is 404 ``unknown_job``, also after a
restart, but the same record step of a finished job again), 409 ``job_state_mismatch`` (a kept job
that cannot be taken up as it was answered), 404 ``no_grant_terms`` (the terms step, for a grant without terms of
its own), 500 ``job_not_kept`` (the open job could not be written: nothing is kept or answered, and the client
may send the request again). Jobs whose record never comes are dropped after ``job_ttl_s`` (their ``open.json``
removed; the directory stays, so the id stays taken), measured with ``clock`` (unix seconds by default, so the
time an open job waited survives a restart).

The grants' own terms are read at start (``grant_terms``: grant id → document) and each is checked against the
asset's document (``privacy.asset.terms_of_grant``): a document of another asset or grant, one whose digest is not
the one listed, or a listed grant without its document refuse the start (``GrantTermsError``). A change of a
grant's terms is a new asset version and a restart of the service, which open jobs survive: they finish under the
terms they started with.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

from aiohttp import web

from notary.headers import CALLER_ORG_HEADER, EVENT_HEADER
from privacy.asset import (
    GRANT_QUERY,
    STEP_METHODS,
    STEPS,
    GrantView,
    PsiAssetTerms,
    Step,
    format_asset_terms,
    parse_record_step,
    terms_of_grant,
)
from privacy.errors import MalformedError, PrivacyError, RefusedError
from privacy.identifiers import normalise_set
from privacy.jobfiles import (
    OPEN_JOB_FILE,
    OPEN_RESPONSE_FILE,
    RECORD_FILE,
    RECORD_STEP_FILE,
    STAGING_PREFIX,
    OpenJobFile,
    clear_staged,
    format_open_job,
    format_record_step_file,
    open_job_info,
    parse_open_job,
    party_files,
    publish_job_dir,
    record_step_of,
    write_job_files,
)
from privacy.psi import JobTerms, PsiServer, inspect_request, max_request_bytes, message_hash
from privacy.record import (
    GRANT_ID,
    JOB_ID,
    SIGNING_CONTEXT,
    JobRecord,
    SignedRecord,
    format_record,
    format_signed_record,
    parse_signed_record,
    sign_record,
)
from privacy.suites import KemKey, SigningKey, check_same_suite, suite_of_protocol

log = logging.getLogger(__name__)

#: The body limit of an upstream that serves the steps beside other routes (the demo's services): requests of up to
#: 7.6 million identifiers. The service's own application takes what its terms allow (``max_request_bytes``).
MAX_REQUEST_BYTES: Final = 256 * 1024 * 1024


def _refuse(status: int, reason: str, detail: str) -> web.Response:
    error = {400: "bad_request", 403: "forbidden", 404: "not_found", 409: "conflict", 500: "internal"}.get(
        status, "error"
    )
    return web.json_response({"error": error, "reason": reason, "detail": detail}, status=status)


class PsiService:
    """The server side of PSI jobs on one identifier set (module docstring)."""

    def __init__(
        self,
        terms: PsiAssetTerms,
        signing_key: SigningKey,
        kem_key: KemKey,
        identifiers: Sequence[str],
        jobs_dir: Path,
        *,
        grant_terms: Mapping[str, bytes] | None = None,
        member_keys: Mapping[str, bytes] | None = None,
        notary_url: str | None = None,
        job_ttl_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.suite = terms.suite
        self._signing_public = self.suite.public_key(signing_key)  # refuses a key of the other suite
        if self.suite.kem_public(kem_key) != terms.kem_key:
            raise MalformedError("the job-secret key is not the one the terms document publishes")
        self.terms = terms
        self.document = format_asset_terms(terms)
        documents = dict(grant_terms or {})
        self._grants: dict[str, tuple[GrantView, bytes]] = {}
        for grant_id in sorted({g for g, _ in terms.grants} | set(documents)):
            # refuses a document the asset's terms do not list, or not as they list it, and a listed one missing
            view = terms_of_grant(terms, grant_id, documents.get(grant_id))
            self._grants[grant_id] = (view, documents[grant_id])
        self._signing_key = signing_key
        self._kem_key = kem_key
        self._ids = normalise_set(identifiers)
        self.jobs_dir = Path(jobs_dir)
        self._member_keys = member_keys
        self._notary_url = notary_url
        self._ttl = job_ttl_s
        self._clock = clock
        self._jobs: dict[str, tuple[float, PsiServer | None]] = {}
        #: job id → the request's hash and its answer being computed, so that the same request sent again meanwhile
        #: waits for that answer
        self._computing: dict[str, tuple[bytes, asyncio.Future[tuple[PsiServer, bytes]]]] = {}
        self._done: set[str] = set()
        #: job id → when it was answered, of the jobs whose open.json is on disk (a service's before a restart too)
        self._kept: dict[str, float] = {}
        for name in clear_staged(self.jobs_dir):  # a job whose request was not answered: its id is free
            log.warning("removed %s in %s: a request step that a stop cut short, never answered", name, self.jobs_dir)
        if self.jobs_dir.is_dir():
            for path in self.jobs_dir.glob(f"*/{OPEN_JOB_FILE}"):
                if not path.parent.name.startswith(STAGING_PREFIX):
                    self._kept[path.parent.name] = _opened_at(path, self._clock())

    @property
    def max_input(self) -> int:
        """The largest cap of any job here: the asset's, or a grant's own."""
        return max([self.terms.max_input, *(view.terms.max_input for view, _ in self._grants.values())])

    def grant_view(self, grant_id: str) -> GrantView:
        """The terms the jobs of ``grant_id`` run under (``privacy.asset.terms_of_grant``)."""
        entry = self._grants.get(grant_id)
        return GrantView(self.terms, None, None) if entry is None else entry[0]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=max_request_bytes(self.max_input))
        self.add_routes(app)
        app.router.add_get("/healthz", self._healthz)
        return app

    def add_routes(self, app: web.Application) -> None:
        """Add the three steps' routes to ``app``: this service's own, or an upstream that serves more (the demo's
        services), which must then take request bodies of ``MAX_REQUEST_BYTES``."""
        for step in STEPS:
            app.router.add_route(STEP_METHODS[step], self.terms.route(step), self.handler(step))

    def handler(self, step: Step) -> Callable[[web.Request], Awaitable[web.Response]]:
        """What answers ``step`` (``privacy.asset``)."""
        return {"terms": self._terms, "request": self._request, "record": self._record}[step]

    def open_jobs(self) -> list[str]:
        """The ids of the jobs answered and not yet recorded or expired, this service's and those a service kept
        before a restart (their ``open.json``, listed once at start)."""
        return sorted(set(self._kept) - self._done)

    def _forget(self, job_id: str) -> None:
        """Remove a job's ``open.json`` and the answer kept beside it (finished or expired)."""
        self._open_path(job_id).unlink(missing_ok=True)
        (self.jobs_dir / job_id / OPEN_RESPONSE_FILE).unlink(missing_ok=True)
        self._kept.pop(job_id, None)

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "asset": self.terms.asset,
                "jobs_open": len(self.open_jobs()),
                "jobs_done": len(self._done),
            }
        )

    async def _terms(self, request: web.Request) -> web.Response:
        grant_id = request.query.get(GRANT_QUERY)
        if grant_id is None:
            return web.Response(body=self.document, content_type="application/json")
        if GRANT_ID.match(grant_id) is None:
            return _refuse(400, "psi_malformed", f"grant {grant_id[:80]!r} must be '0x' and 64 lower-case hex digits")
        entry = self._grants.get(grant_id)
        if entry is None:
            detail = f"grant {grant_id} has no terms of its own: its jobs run under the asset's terms"
            return _refuse(404, "no_grant_terms", detail)
        view, document = entry
        caller = request.headers.get(CALLER_ORG_HEADER, "")
        if caller != view.grantee:
            return _refuse(
                403, "wrong_client", f"the terms of grant {grant_id} are its grantee's; the caller is {caller!r}"
            )
        return web.Response(body=document, content_type="application/json")

    def _open_path(self, job_id: str) -> Path:
        return self.jobs_dir / job_id / OPEN_JOB_FILE

    def _expire(self) -> None:
        now = self._clock()
        for job_id in [j for j, (at, _) in self._jobs.items() if now - at > self._ttl]:
            self._jobs.pop(job_id, None)
            self._forget(job_id)
        for job_id in [j for j, at in self._kept.items() if now - at > self._ttl and j not in self._jobs]:
            self._forget(job_id)  # kept by a service before a restart, and its record never came

    async def _request(self, request: web.Request) -> web.Response:
        caller = request.headers.get(CALLER_ORG_HEADER, "")
        body = await request.read()
        try:
            summary = inspect_request(body)
        except MalformedError as exc:
            return _refuse(400, "psi_malformed", str(exc))
        if summary.client_org != caller:
            return _refuse(
                403, "wrong_client", f"the request names client {summary.client_org!r}; the caller is {caller!r}"
            )
        self._expire()
        job_id = str(summary.terms.get("job_id"))
        grant_id = str(summary.terms.get("grant_id"))
        try:
            check_same_suite(self.suite, suite_of_protocol(str(summary.terms.get("protocol"))), "the request")
        except MalformedError as exc:
            return _refuse(403, "wrong_suite", str(exc))
        view = self.grant_view(grant_id)
        if view.grantee is not None and view.grantee != caller:
            return _refuse(
                403, "wrong_client", f"grant {grant_id}'s terms are {view.grantee}'s; the caller is {caller!r}"
            )
        own = view.terms
        try:
            terms = JobTerms(job_id, grant_id, str(summary.terms.get("purpose")), own.max_input, own.dp_epsilon,
                             own.dp_inputs, suite=self.suite, dp_budget=own.dp_budget,
                             terms_digest=view.digest)  # fmt: skip
        except MalformedError as exc:
            return _refuse(400, "psi_malformed", str(exc))
        loop = asyncio.get_running_loop()
        digest = message_hash(body, self.suite)
        computing = self._computing.get(job_id)
        if computing is not None and computing[0] != digest:
            detail = f"job {job_id!r} is being answered to another request; draw a fresh job id"
            return _refuse(409, "job_exists", detail)
        # a job's directory outlives the service (open.json, then its files): its id stays taken after a restart
        if computing is None and (job_id in self._jobs or job_id in self._done or (self.jobs_dir / job_id).exists()):
            answered = await loop.run_in_executor(None, self._answered, job_id, digest)
            if answered is None:
                return _refuse(
                    409,
                    "job_exists",
                    f"job {job_id!r} was already requested (with another request, or it finished or expired); start "
                    "the job again with a fresh job id",
                )
            return web.Response(body=answered, content_type="application/octet-stream")  # the same answer again
        if computing is None:
            self._jobs[job_id] = (self._clock(), None)  # reserved while it is computed

            def respond() -> tuple[PsiServer, bytes]:
                server = PsiServer(terms, self.terms.org, self._signing_public, self._ids, self._kem_key)
                response = server.respond(body)
                self._keep(server, response)  # on disk before the client has the answer (module docstring)
                return server, response

            task = loop.run_in_executor(None, respond)
            computing = self._computing[job_id] = (digest, task)
            task.add_done_callback(lambda done: self._computed(job_id, done))
        try:
            server, response = await asyncio.shield(computing[1])
        except RefusedError as exc:
            self._jobs.pop(job_id, None)
            return _refuse(403, exc.reason, str(exc))
        except MalformedError as exc:
            self._jobs.pop(job_id, None)
            return _refuse(400, "psi_malformed", str(exc))
        except OSError as exc:
            self._jobs.pop(job_id, None)
            log.error("job %s: cannot keep the open job in %s: %s", job_id, self.jobs_dir, exc)
            return _refuse(500, "job_not_kept", "the owner's service could not keep the job; send the request again")
        self._jobs[job_id] = (self._clock(), server)
        return web.Response(body=response, content_type="application/octet-stream")

    def _computed(self, job_id: str, done: asyncio.Future[tuple[PsiServer, bytes]]) -> None:
        entry = self._computing.get(job_id)
        if entry is not None and entry[1] is done:
            del self._computing[job_id]

    def _keep(self, server: PsiServer, response: bytes) -> None:
        """Write ``server``'s job to ``<jobs>/<job id>/open.json`` (``privacy.jobfiles``), its VRF secret sealed to
        the asset's job-secret key, and its answer ``response`` beside it, both or neither."""
        job_id = server.terms.job_id
        sealed = self.suite.seal(self.terms.kem_key, server.committed.vrf_secret, open_job_info(job_id))
        kept = OpenJobFile(server.terms, int(self._clock()), server.state(), server.committed.commitment, sealed)
        publish_job_dir(self.jobs_dir, job_id, {OPEN_RESPONSE_FILE: response, OPEN_JOB_FILE: format_open_job(kept)})
        self._kept[job_id] = kept.opened_at

    def _answered(self, job_id: str, request_hash: bytes) -> bytes | None:
        """The answer this service (or one before a restart) gave to the request of hash ``request_hash`` of the open
        job ``job_id``, as it kept it; None when the job is not open (finished, expired, never answered), was
        answered to another request, or its answer is not kept whole (a job kept before answers were)."""
        folder = self.jobs_dir / job_id
        if (folder / RECORD_FILE).exists():
            return None
        try:
            kept = parse_open_job(self._open_path(job_id).read_bytes())
            response = (folder / OPEN_RESPONSE_FILE).read_bytes()
        except (OSError, PrivacyError):
            return None
        if kept.terms.job_id != job_id or kept.state.request_hash != request_hash:
            return None
        if self._clock() - kept.opened_at > self._ttl:
            return None
        if message_hash(response, self.suite) != kept.state.response_hash:
            return None
        return response

    def _recorded(self, job_id: str, record: JobRecord, client_signature: bytes, event_id: str | None) -> bytes | None:
        """The record of the finished job ``job_id`` signed by both, as its ``record.json`` keeps it, when it is the
        record and client signature of this record step (the same step sent again, its answer lost): its
        ``record-step.json`` then names this step's event; None otherwise."""
        folder = self.jobs_dir / job_id
        try:
            data = (folder / RECORD_FILE).read_bytes()
            signed = parse_signed_record(data)
        except (OSError, PrivacyError):
            return None
        if signed.record != record or signed.client_signature != client_signature:
            return None
        if event_id:
            try:
                step = format_record_step_file(record_step_of(signed, event_id, self._notary_url))
            except MalformedError as exc:
                log.warning("job %s: %s header %r: %s", job_id, EVENT_HEADER, event_id[:80], exc)
            else:
                write_job_files(folder, {RECORD_STEP_FILE: step})
        self._forget(job_id)  # an open.json a crash left beside the files
        return data

    def _resume(self, job_id: str) -> PsiServer | None:
        """The server of a job a service answered before a restart (its ``open.json``), or None when there is none
        or it has expired. Raises RefusedError ``job_state_mismatch`` when the job cannot be taken up as it was."""
        if (self.jobs_dir / job_id / RECORD_FILE).exists():
            return None  # finished (open.json outlived the files by a crash between the two)
        try:
            data = self._open_path(job_id).read_bytes()
        except OSError:
            return None
        try:
            kept = parse_open_job(data)
            if kept.terms.job_id != job_id:
                raise MalformedError(f"it is of job {kept.terms.job_id}")
            if self._clock() - kept.opened_at > self._ttl:
                self._forget(job_id)
                return None
            secret = self.suite.open(self._kem_key, kept.sealed_vrf_secret, open_job_info(job_id))
            server = PsiServer(kept.terms, self.terms.org, self._signing_public, self._ids, self._kem_key,
                               vrf_secret=secret)  # fmt: skip
        except MalformedError as exc:
            raise RefusedError(
                "job_state_mismatch", f"the kept state of job {job_id} cannot be taken up: {exc}"
            ) from exc
        if server.committed.commitment != kept.commitment:
            raise RefusedError(
                "job_state_mismatch",
                f"job {job_id} was answered on another identifier set than the service holds now; start a new job",
            )
        server.resume(kept.state)
        return server

    async def _record(self, request: web.Request) -> web.Response:
        caller = request.headers.get(CALLER_ORG_HEADER, "")
        try:
            record, client_signature = parse_record_step(await request.read())
        except MalformedError as exc:
            return _refuse(400, "psi_malformed", str(exc))
        entry = self._jobs.get(record.job_id)
        server = None if entry is None else entry[1]
        if entry is None and record.job_id not in self._done and JOB_ID.match(record.job_id):
            try:  # a job a service answered before it was started again
                server = await asyncio.get_running_loop().run_in_executor(None, self._resume, record.job_id)
            except RefusedError as exc:
                return _refuse(409, exc.reason, str(exc))
            if server is not None:  # one taken up by a record step that ran meanwhile goes on from there
                entry = self._jobs.setdefault(record.job_id, (self._clock(), server))
                server = None if record.job_id in self._done else entry[1]
        if server is None and record.client.org == caller and JOB_ID.match(record.job_id):
            event = request.headers.get(EVENT_HEADER)
            again = await asyncio.get_running_loop().run_in_executor(
                None, self._recorded, record.job_id, record, client_signature, event
            )
            if again is not None:  # the same record step again: the same record
                self._done.add(record.job_id)
                return web.Response(body=again, content_type="application/json")
        if server is None:
            return _refuse(404, "unknown_job", f"no open job {record.job_id!r} here (answered, expired or never asked)")
        if record.client.org != caller:
            return _refuse(
                403, "wrong_client", f"the record names client {record.client.org!r}; the caller is {caller!r}"
            )
        if self._member_keys is not None and self._member_keys.get(caller) != record.client.signing_key:
            return _refuse(403, "wrong_signing_key", f"the record's client key is not the key {caller} publishes")
        if record.suite is not self.suite:
            detail = f"the record is of the {record.suite.name} suite, the job of the {self.suite.name} suite"
            return _refuse(403, "wrong_suite", detail)
        if not self.suite.verify(record.client.signing_key, client_signature, SIGNING_CONTEXT + format_record(record)):
            return _refuse(403, "bad_signature", "the client's signature does not verify over the record")
        try:
            server.check_record(record)
        except RefusedError as exc:
            return _refuse(403, exc.reason, str(exc))
        signed = SignedRecord(record, client_signature, sign_record(record, "server", self._signing_key))
        files = party_files("server", signed, server.committed)
        event_id = request.headers.get(EVENT_HEADER)
        if event_id:
            try:
                files[RECORD_STEP_FILE] = format_record_step_file(record_step_of(signed, event_id, self._notary_url))
            except MalformedError as exc:  # not an event id: the files are kept without it
                log.warning("job %s: %s header %r: %s", record.job_id, EVENT_HEADER, event_id[:80], exc)
        await asyncio.get_running_loop().run_in_executor(None, self._write, record.job_id, files)
        self._jobs.pop(record.job_id, None)
        self._done.add(record.job_id)
        return web.Response(body=format_signed_record(signed), content_type="application/json")

    def _write(self, job_id: str, files: Mapping[str, bytes]) -> None:
        write_job_files(self.jobs_dir / job_id, files)
        self._forget(job_id)  # after the files: a crash between leaves a finished job


def _opened_at(path: Path, default: float) -> float:
    """When the job an ``open.json`` keeps was answered (``default`` for a file that does not say: it is read in
    full, and refused if need be, when its record step comes)."""
    try:
        opened = json.loads(path.read_bytes()).get("opened_at")
    except (OSError, ValueError, AttributeError):
        return default
    return float(opened) if type(opened) is int else default


async def serve(service: PsiService, host: str, port: int, ready: Callable[[int], None] | None = None) -> None:
    """Serve ``service`` until cancelled; ``ready`` gets the port (useful with port 0)."""
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        if ready is not None:
            ready(int(runner.addresses[0][1]))
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
