"""A schema-driven fuzz of the notary's and the explorer's HTTP APIs with schemathesis: for every operation of
each app's own OpenAPI document, requests generated from the document (valid and invalid parameters) are sent
to the app in process, through ASGI, and every answer must be one the document promises: no 5xx, a documented
status code, the documented media type and a body matching the documented schema. Paths answering methods they
do not support must say 405 with an ``Allow`` header.

The notary is a real ``NotaryService`` holding a published log (``tests.support.notary_world.LogWorld``). The
explorer is built by ``explorer.service.build`` from the running demo consortium (the ``live`` fixture), its
indexes filled by its own followers, and every request is made as a real person with a login token of theirs.
The budget is bounded and the generation derandomized, so a run is reproducible and takes seconds.
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
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.openapi import from_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from explorer import api as explorer_api
from explorer import service as explorer_service
from explorer.api import Limits
from explorer.service import ExplorerOptions
from notary.api import create_app
from notary.sequencer import batch_request
from tests.integration.explorer.explorer_live import PASSPHRASE, Live, wait_until
from tests.support.notary_events import event
from tests.support.notary_world import GATEWAY, LogWorld

#: Examples per operation: enough to reach every documented refusal, small enough for the whole fuzz in 60 s.
EXAMPLES = 12
BUDGET = settings(
    max_examples=EXAMPLES,
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


def fuzz(app: FastAPI, headers: dict[str, str] | None = None) -> int:
    """Fuzz every operation of ``app``'s OpenAPI document; the number of operations fuzzed."""
    schema = from_asgi("/openapi.json", app)
    count = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an operation schemathesis cannot read: {result.err()}"
        operation = result.ok()

        @given(case=operation.as_strategy())
        @BUDGET
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

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
def notary_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """A notary whose log holds 20 events and a published checkpoint of them."""
    world = LogWorld(Path(tmp_path_factory.mktemp("notary-fuzz")))
    service = world.notary()
    try:
        app = create_app(service)
        now = int(time.time() * 1000)
        events = [event(event_id=f"ev-{i}", gateway_seq=i, time_ms=now) for i in range(1, 21)]
        body, headers = batch_request(GATEWAY, events, world.gateway_key)
        with TestClient(app) as client:
            assert client.post("/v1/batches", content=body, headers=headers).status_code == 200
        assert service.checkpointer.round() is not None, "the witnesses did not cosign"
        yield app
    finally:
        service.stop()
        world.close()


def test_the_notary_answers_only_what_its_openapi_document_promises(notary_app: FastAPI) -> None:
    assert fuzz(notary_app) >= 14


def test_the_notary_answers_405_with_allow_to_a_method_a_path_does_not_support(notary_app: FastAPI) -> None:
    assert check_unsupported_methods(notary_app) >= 14 * 5


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
def test_the_explorer_answers_405_with_allow_to_a_method_a_path_does_not_support(
    explorer_app: tuple[FastAPI, dict[str, str]],
) -> None:
    app, headers = explorer_app
    assert check_unsupported_methods(app, headers) >= 28 * 6
