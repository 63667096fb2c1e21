"""privacy.service.PsiService in process, its handlers called with aiohttp's mocked requests (no socket): the job
files it writes (record-step.json with the event its gateway names), open jobs kept across a restart, and a grant's
own terms."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from notary.headers import CALLER_ORG_HEADER, EVENT_HEADER
from privacy.asset import PsiAssetTerms, PsiGrantTerms, format_grant_terms, format_record_step, terms_digest
from privacy.errors import GrantTermsError
from privacy.jobfiles import (
    OPEN_JOB_FILE,
    OPEN_RESPONSE_FILE,
    RECORD_FILE,
    RECORD_STEP_FILE,
    parse_open_job,
    read_job_files,
)
from privacy.psi import PROTOCOL, JobTerms, PsiClient
from privacy.record import parse_signed_record, sign_record, verify_record
from privacy.service import PsiService

KEM = X25519PrivateKey.generate()
OWNER_KEY, CLIENT_KEY = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
TERMS = PsiAssetTerms("customer-ids", "alpha", PROTOCOL, 50, KEM.public_key().public_bytes_raw(), "/v1/psi/ids")
GRANT, OTHER_GRANT = "0x" + "ab" * 32, "0x" + "cd" * 32
OWN = format_grant_terms(PsiGrantTerms("customer-ids", GRANT, "beta", PROTOCOL, 5, b"\x02" * 16))
OWNER_IDS = ["ACCT:2", "ACCT:3", "ACCT:4"]
CLIENT_IDS = ["ACCT:1", "ACCT:2", "ACCT:4"]


class Body:
    """A request body as aiohttp's request reads it (``readany`` until empty)."""

    def __init__(self, data: bytes) -> None:
        self._chunks = [data, b""] if data else [b""]

    def set_read_chunk_size(self, _size: int) -> None:
        pass

    async def readany(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""


def handle(
    service: PsiService, step: str, body: bytes = b"", caller: str = "beta", query: str = "", **headers: str
) -> Coroutine[Any, Any, web.Response]:
    """The handler of ``step`` called with a request of ``body`` from ``caller``, to be awaited."""
    method = "GET" if step == "terms" else "POST"
    request = make_mocked_request(
        method,
        f"{TERMS.steps}/{step}{query}",
        headers={CALLER_ORG_HEADER: caller, **headers},
        payload=cast(Any, Body(body)),
    )
    handler = cast(Callable[[web.Request], Coroutine[Any, Any, web.Response]], service.handler(step))  # type: ignore[arg-type]
    return handler(request)


def call(
    service: PsiService, step: str, body: bytes = b"", caller: str = "beta", query: str = "", **headers: str
) -> web.Response:
    return asyncio.run(handle(service, step, body, caller, query, **headers))


def reason(response: web.Response) -> str:
    import json

    assert response.body is not None
    return f"{response.status} {json.loads(cast(bytes, response.body))['reason']}"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def owner(jobs: Path, clock: Clock, ids: list[str] = OWNER_IDS, **kwargs: Any) -> PsiService:
    return PsiService(
        kwargs.pop("terms", TERMS), OWNER_KEY, KEM, ids, jobs, clock=clock, notary_url="https://notary.example",
        member_keys={"beta": CLIENT_KEY.public_key().public_bytes_raw()}, **kwargs,
    )  # fmt: skip


def client(job_id: str = "job-1", max_input: int = 50, digest: bytes | None = None) -> PsiClient:
    terms = JobTerms(job_id, GRANT, "aml-screening", max_input, terms_digest=digest)
    return PsiClient(terms, "beta", CLIENT_KEY.public_key(), CLIENT_IDS, KEM.public_key())


def record_step(psi: PsiClient, response: web.Response) -> bytes:
    record = psi.finish(cast(bytes, response.body)).record
    return format_record_step(record, sign_record(record, "client", CLIENT_KEY))


def test_the_owners_service_writes_its_job_files_with_the_record_steps_event(tmp_path: Path) -> None:
    service = owner(tmp_path, Clock())
    assert call(service, "terms").body == service.document
    psi = client()
    answered = call(service, "request", psi.request())
    assert answered.status == 200
    done = call(service, "record", record_step(psi, answered), **{EVENT_HEADER: "evt-42"})
    assert done.status == 200
    signed = parse_signed_record(cast(bytes, done.body))
    verify_record(signed, CLIENT_KEY.public_key(), OWNER_KEY.public_key())
    folder = tmp_path / "job-1"
    assert sorted(p.name for p in folder.iterdir()) == [
        "input.set.json", "record-step.json", "record.json", "vrf-key.json"
    ]  # fmt: skip
    files = read_job_files({p.name: p.read_bytes() for p in folder.iterdir()})
    assert files.record == signed and sorted(files.committed("input").identifiers) == OWNER_IDS
    assert files.record_step is not None
    assert (files.record_step.event_id, files.record_step.notary_url) == ("evt-42", "https://notary.example")
    assert all(p.stat().st_mode & 0o077 == 0 for p in folder.iterdir())
    # without the gateway's header (a service reached directly), no record-step.json
    psi = client("job-2")
    call(service, "record", record_step(psi, call(service, "request", psi.request())))
    assert not (tmp_path / "job-2" / RECORD_STEP_FILE).exists() and (tmp_path / "job-2" / "record.json").exists()


def test_an_open_job_survives_a_restart_of_the_owners_service(tmp_path: Path) -> None:
    clock = Clock()
    first = owner(tmp_path, clock)
    psi = client()
    answered = call(first, "request", psi.request())
    kept = tmp_path / "job-1" / OPEN_JOB_FILE
    data = kept.read_bytes()
    opened = parse_open_job(data)
    secret = first._jobs["job-1"][1].committed.vrf_secret  # type: ignore[union-attr]
    assert secret not in data and secret.hex().encode() not in data  # sealed to the asset's job-secret key
    assert opened.terms.job_id == "job-1" and kept.stat().st_mode & 0o077 == 0
    del first  # the service is gone; a new one over the same files takes the job up at its record step
    again = owner(tmp_path, clock)
    assert again.open_jobs() == ["job-1"]
    body = record_step(psi, answered)
    done = call(again, "record", body, **{EVENT_HEADER: "evt-7"})
    assert done.status == 200, done.body
    assert not kept.exists() and (tmp_path / "job-1" / RECORD_STEP_FILE).exists()
    assert again.open_jobs() == []
    # a finished job is not answered again, by this service or the next, but to its client's same record step
    assert reason(call(again, "record", body, caller="gamma")) == "404 unknown_job"
    assert reason(call(owner(tmp_path, clock), "record", body, caller="gamma")) == "404 unknown_job"
    assert call(owner(tmp_path, clock), "record", body).body == done.body
    assert reason(call(owner(tmp_path, clock), "request", client().request())) == "409 job_exists"


def test_the_same_request_and_record_step_sent_again_get_the_same_answers_across_restarts(tmp_path: Path) -> None:
    """A stop of the owner's service after it kept a step's outcome and before its answer reached the client (or a
    connection broken on the way): the client sends the same step again, to the service started again, and gets
    the same answer; another request for the job is refused."""
    clock = Clock()
    psi = client()
    message = psi.request()
    answered = call(owner(tmp_path, clock), "request", message)  # kept, then the answer is lost: the service stops
    assert answered.status == 200
    folder = tmp_path / "job-1"
    assert {OPEN_JOB_FILE, OPEN_RESPONSE_FILE} <= {p.name for p in folder.iterdir()}
    again = owner(tmp_path, clock)
    retried = call(again, "request", message)
    assert retried.status == 200 and retried.body == answered.body
    assert reason(call(owner(tmp_path, clock), "request", client().request())) == "409 job_exists"  # another one
    step = record_step(psi, retried)
    done = call(again, "record", step, **{EVENT_HEADER: "evt-1"})
    assert done.status == 200, done.body
    # the record step's answer is lost: the same step again, at the next service, names its own event
    replayed = call(owner(tmp_path, clock), "record", step, **{EVENT_HEADER: "evt-2"})
    assert replayed.status == 200 and replayed.body == done.body
    files = read_job_files({p.name: p.read_bytes() for p in folder.iterdir()})
    assert files.record_step is not None and files.record_step.event_id == "evt-2"
    assert sorted(p.name for p in folder.iterdir()) == [
        "input.set.json", "record-step.json", "record.json", "vrf-key.json"
    ]  # fmt: skip
    assert reason(call(owner(tmp_path, clock), "request", message)) == "409 job_exists"  # finished: not again


def test_the_same_request_while_the_first_is_computed_waits_for_its_answer(tmp_path: Path) -> None:
    service = owner(tmp_path, Clock())
    message, other = client().request(), client().request()

    async def three() -> list[web.Response]:
        return list(await asyncio.gather(*(handle(service, "request", m) for m in (message, message, other))))

    first, second, refused = asyncio.run(three())
    assert first.status == 200 and second.body == first.body
    assert reason(refused) == "409 job_exists"


def test_a_stop_before_the_job_is_kept_leaves_no_job_and_one_between_the_files_no_finished_one(
    tmp_path: Path,
) -> None:
    """A stop while the open job is written leaves its staging directory, half written, never read and removed at
    the next start: the same request is answered afresh. A stop while the job files are written leaves no
    ``record.json`` (written last): the job is still open and the same record step finishes it."""
    clock = Clock()
    staged = tmp_path / ".staging-job-1.x1y2"
    staged.mkdir(parents=True)
    (staged / OPEN_JOB_FILE).write_bytes(b'{"format": "consortium-ledger/privacy-open-job/v1", "ter')
    service = owner(tmp_path, clock)
    assert not staged.exists() and service.open_jobs() == []
    psi = client()
    answered = call(service, "request", psi.request())
    assert answered.status == 200
    step = record_step(psi, answered)
    blocker = tmp_path / "job-1" / "input.set.json"  # the files stop being written at this one
    (blocker / "in-the-way").mkdir(parents=True)
    with pytest.raises(OSError):
        call(owner(tmp_path, clock), "record", step)
    assert not (tmp_path / "job-1" / RECORD_FILE).exists()
    (blocker / "in-the-way").rmdir()
    blocker.rmdir()
    done = call(owner(tmp_path, clock), "record", step)
    assert done.status == 200, done.body
    folder = tmp_path / "job-1"
    assert read_job_files({p.name: p.read_bytes() for p in folder.iterdir()}).record.record.job_id == "job-1"


def test_a_kept_job_is_refused_after_it_expires_or_when_the_owners_set_changed(tmp_path: Path) -> None:
    clock = Clock()
    psi = client()
    answered = call(owner(tmp_path, clock), "request", psi.request())
    body = record_step(psi, answered)
    assert reason(call(owner(tmp_path, clock, ["ACCT:9"]), "record", body)) == "409 job_state_mismatch"
    assert (tmp_path / "job-1" / OPEN_JOB_FILE).exists()  # nothing changed by the refusal
    clock.now += 601
    assert reason(call(owner(tmp_path, clock), "record", body)) == "404 unknown_job"
    assert not (tmp_path / "job-1" / OPEN_JOB_FILE).exists()
    assert reason(call(owner(tmp_path, clock), "request", client().request())) == "409 job_exists"  # id still taken
    # a kept job whose record never comes expires at a later service too, when its next request comes
    call(owner(tmp_path, clock), "request", client("job-2").request())
    later = owner(tmp_path, clock)
    assert later.open_jobs() == ["job-2"]
    clock.now += 601
    assert call(later, "request", client("job-3").request()).status == 200
    assert later.open_jobs() == ["job-3"] and not (tmp_path / "job-2" / OPEN_JOB_FILE).exists()


def test_the_service_holds_a_grants_jobs_to_the_grants_own_terms(tmp_path: Path) -> None:
    listing = TERMS.with_grant(GRANT, terms_digest(OWN))
    service = owner(tmp_path, Clock(), terms=listing, grant_terms={GRANT: OWN})
    assert call(service, "terms", query=f"?grant={GRANT}").body == OWN
    assert reason(call(service, "terms", caller="gamma", query=f"?grant={GRANT}")) == "403 wrong_client"
    assert reason(call(service, "terms", query=f"?grant={OTHER_GRANT}")) == "404 no_grant_terms"
    # the asset's cap of 50 is not this grant's 5: a request under the asset's terms is refused
    assert reason(call(service, "request", client().request())) == "403 wrong_terms"
    psi = client("job-2", 5, terms_digest(OWN))
    answered = call(service, "request", psi.request())
    assert answered.status == 200
    done = call(owner(tmp_path, Clock(), terms=listing, grant_terms={GRANT: OWN}), "record", record_step(psi, answered))
    assert parse_signed_record(cast(bytes, done.body)).record.terms == terms_digest(OWN)
    assert not (tmp_path / "job-1").exists()  # a refused request keeps nothing
    with pytest.raises(GrantTermsError, match="SHA-256"):
        owner(tmp_path, Clock(), terms=TERMS.with_grant(GRANT, b"\x00" * 32), grant_terms={GRANT: OWN})
    with pytest.raises(GrantTermsError):
        owner(tmp_path, Clock(), terms=listing)  # its document missing
