"""A schema-driven fuzz of the notary's and the explorer's HTTP APIs with schemathesis: for every operation of
each app's own OpenAPI document, requests generated from the document (valid and invalid parameters) are sent
to the app in process, through ASGI, and every answer must be one the document promises: no 5xx, a documented
status code, the documented media type and a body matching the documented schema. Paths answering methods they
do not support must say 405 with an ``Allow`` header.

The notary is a real ``NotaryService`` holding a published log (``tests.support.notary_world.LogWorld``),
fuzzed three times: with open reads; with its reads authenticated as ``consortium up`` serves them
(``network.logsetup.read_access`` over a consortium directory of real identities), once without credentials, when
every answer but ``/healthz``'s liveness must be a documented refusal, and once as a member firm's compliance
officer with a login token of theirs. The explorer is built by ``explorer.service.build`` from the running demo
consortium (the ``live`` fixture), its indexes filled by its own followers, and fuzzed as the regulator, with a
real login token, and without any, when it must refuse every ``/api`` request. Credentials are only those the
test sends: schemathesis is told not to make up values for the documents' security schemes. The budget is
bounded and the generation derandomized, so a run is reproducible and takes seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.openapi import from_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chain.ids import Role
from explorer import api as explorer_api
from explorer import service as explorer_service
from explorer.api import Limits
from explorer.service import ExplorerOptions
from network.logsetup import read_access
from notary.api import create_app
from notary.sequencer import batch_request
from notary.service import NotaryService
from tests.integration.live.consortium import PASSPHRASE, Live, wait_until
from tests.support.member_directory import member_directory, person_token
from tests.support.notary_events import event
from tests.support.notary_world import GATEWAY, LogWorld

#: Examples per operation: enough to reach every documented refusal, small enough for the whole fuzz in 60 s.
EXAMPLES = 12
#: Without credentials every answer is a refusal before the parameters matter much: fewer examples do.
ANONYMOUS_EXAMPLES = 4
#: How long one answer may take (schemathesis's own default is 10 s): a bound for a hang, not for speed. An
#: evidence zip of a hundred calls reads each bundle from the notary, which takes longer than 10 s on a loaded
#: machine.
REQUEST_TIMEOUT = 120.0


def budget(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


#: What every answer must satisfy. Not "a schema-valid request is accepted": some rules (exactly one of two
#: parameters, ``to`` after ``from``) are not in the schema, and their refusals are documented instead.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


#: The one answer an app gives without credentials that is not a refusal: liveness.
LIVENESS = {"/healthz": {"ok": True}}


def refused_without_credentials(_: CheckContext, response: Response, case: schemathesis.Case[Any]) -> bool | None:
    """Without credentials, every answer is a refusal, except liveness, which says only that."""
    path = case.operation.path
    if path in LIVENESS and response.status_code == 200:
        assert response.json() == LIVENESS[path], f"{path} told an anonymous reader {response.text[:200]}"
    else:
        assert response.status_code >= 400, f"{case.method} {path} answered {response.status_code} without credentials"
    return None


def fuzz(app: FastAPI, headers: dict[str, str] | None = None, *, anonymous: bool = False) -> int:
    """Fuzz every operation of ``app``'s OpenAPI document with ``headers`` (and no credentials but those in them);
    ``anonymous``: every answer must also be a refusal or liveness. The number of operations fuzzed."""
    schema = from_asgi("/openapi.json", app)
    schema.config.generation.update(with_security_parameters=False)
    checks = [*CHECKS, refused_without_credentials] if anonymous else CHECKS
    count = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an operation schemathesis cannot read: {result.err()}"
        operation = result.ok()

        @given(case=operation.as_strategy())
        @budget(ANONYMOUS_EXAMPLES if anonymous else EXAMPLES)
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers=headers, checks=checks, timeout=REQUEST_TIMEOUT)

        check()
        count += 1
    return count


def check_unsupported_methods(app: FastAPI, headers: dict[str, str] | None = None) -> int:
    """Every documented path, asked with each method it does not document: 405, an ``Allow`` header naming
    exactly the documented methods, and the app's error body. An unknown path stays a 404. The number asked."""
    document = app.openapi()
    asked = 0
    with TestClient(app) as client:
        for template, item in document["paths"].items():
            path = template.replace("{", "").replace("}", "")  # any value: the method is refused before it is read
            documented = {m.upper() for m in item if m in METHODS}
            for method in sorted(METHODS_UPPER - documented):
                answer = client.request(method, path, headers=headers)
                assert answer.status_code == 405, (method, template, answer.status_code, answer.text)
                assert set(answer.headers["allow"].replace(" ", "").split(",")) == documented, (method, template)
                assert isinstance(answer.json()["error"], str), answer.text
                asked += 1
        missing = client.request("TRACE", "/no/such/path", headers=headers)
        assert missing.status_code == 404 and "error" in missing.json(), missing.text
    return asked


METHODS = ("get", "put", "post", "delete", "patch", "trace", "options")
METHODS_UPPER = {m.upper() for m in METHODS}


@pytest.fixture(scope="module")
def notary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotaryService]:
    """A notary whose log holds 20 events (``jinghua-sec`` calling ``shuzhi-tech``) and a published checkpoint."""
    world = LogWorld(Path(tmp_path_factory.mktemp("notary-fuzz")))
    service = world.notary()
    try:
        now = int(time.time() * 1000)
        events = [event(event_id=f"ev-{i}", gateway_seq=i, time_ms=now) for i in range(1, 21)]
        body, headers = batch_request(GATEWAY, events, world.gateway_key)
        with TestClient(create_app(service)) as client:
            assert client.post("/v1/batches", content=body, headers=headers).status_code == 200
        assert service.checkpointer.round() is not None, "the witnesses did not cosign"
        yield service
    finally:
        service.stop()
        world.close()


@pytest.fixture(scope="module")
def notary_app(notary: NotaryService) -> FastAPI:
    """The notary with open reads."""
    return create_app(notary)


#: The consortium whose people read the authenticated notary: the events' caller and provider, and a regulator.
READERS = {
    "jinghua-sec": ("Jinghua Securities", Role.MEMBER),
    "shuzhi-tech": ("Shuzhi Technology", Role.MEMBER),
    "csrc": ("Securities Regulator", Role.REGULATOR),
}
READERS_PASSPHRASE = b"notary-fuzz-passphrase"


@pytest.fixture(scope="module")
def guarded_notary(notary: NotaryService, tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, dict[str, str]]:
    """The notary with its reads authenticated as ``consortium up`` serves them (``read_access`` of a consortium
    directory), and the headers of a login of ``jinghua-sec``'s compliance officer, a party to every event."""
    root = tmp_path_factory.mktemp("notary-readers")
    description = member_directory(root, READERS, READERS_PASSPHRASE)
    token = person_token(root, "jinghua-sec", "amy", "compliance", Role.MEMBER, READERS_PASSPHRASE)
    app = create_app(notary, read_access(root, description))
    with TestClient(app) as client:  # the token is one the notary takes: the member fuzz reaches the routes
        assert client.get("/v1/entries/ev-1", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    return app, {"Authorization": f"Bearer {token}"}


def test_the_notary_answers_only_what_its_openapi_document_promises(notary_app: FastAPI) -> None:
    assert fuzz(notary_app) >= 14


def test_the_notary_answers_405_with_allow_to_a_method_a_path_does_not_support(notary_app: FastAPI) -> None:
    assert check_unsupported_methods(notary_app) >= 14 * 5


def test_the_authenticated_notary_refuses_whoever_brings_no_credentials_as_documented(
    guarded_notary: tuple[FastAPI, dict[str, str]],
) -> None:
    app, _ = guarded_notary
    assert fuzz(app, anonymous=True) >= 14


def test_the_authenticated_notary_answers_a_member_as_documented(
    guarded_notary: tuple[FastAPI, dict[str, str]],
) -> None:
    app, member = guarded_notary
    assert fuzz(app, member) >= 14


@pytest.fixture(scope="module")
def explorer_app(live: Live) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    """An explorer built in process from the demo consortium, its own indexes (beside those of the running
    explorer) filled by its followers, with no rate limit in the way; and the headers of the regulator's login."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(explorer_service, "INDEX_DIR", "explorer-fuzz")
        unlimited = Limits(rate=1e9, burst=10**9)
        notary = urlsplit(live.notary)  # `consortium up` serves the chain on the port below the notary's
        chain_url = f"{notary.scheme}://{notary.hostname}:{(notary.port or 0) - 1}"
        # the operator's key signs its reads of the notary; its queries are not recorded (the running explorer
        # records under the same gateway name)
        options = ExplorerOptions(
            live.directory,
            live.notary,
            chain_url=chain_url,
            passphrase=PASSPHRASE.encode(),
            audit=False,
            poll=0.1,
            limits=unlimited,
        )
        explorer = explorer_service.build(options)
    try:

        def indexed() -> bool:
            return explorer.calls.size() > 0 and explorer.chain.head() > 0 and explorer.state.snapshot.block >= 0

        wait_until(indexed, 90, "the calls, the chain and a snapshot in the fuzzed explorer")
        yield explorer_api.create_app(explorer), {"Authorization": f"Bearer {live.tokens[live.regulator()]}"}
    finally:
        explorer_service.stop(explorer)


@pytest.mark.slow
def test_the_explorer_answers_only_what_its_openapi_document_promises(
    explorer_app: tuple[FastAPI, dict[str, str]],
) -> None:
    app, headers = explorer_app
    assert fuzz(app, headers) >= 28


@pytest.mark.slow
def test_the_explorer_refuses_whoever_brings_no_login_token_as_documented(
    explorer_app: tuple[FastAPI, dict[str, str]],
) -> None:
    app, _ = explorer_app
    assert fuzz(app, anonymous=True) >= 28


@pytest.mark.slow
def test_the_explorer_answers_405_with_allow_to_a_method_a_path_does_not_support(
    explorer_app: tuple[FastAPI, dict[str, str]],
) -> None:
    app, headers = explorer_app
    assert check_unsupported_methods(app, headers) >= 28 * 6
