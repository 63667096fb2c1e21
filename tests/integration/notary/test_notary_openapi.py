"""The notary's OpenAPI description says what every read returns: each JSON GET a 200 body with its properties
(through ``$ref``), each text or binary GET its media type; and, for a notary that authenticates reads, how: the
security schemes of ``notary.readauth``'s credentials, referenced by every route that asks for them, which an
anonymous request of the app itself confirms. The app is built around a real ``NotaryService``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI
from fastapi.testclient import TestClient

from notary.api import create_app
from notary.event import FIELDS, OPTIONAL_FIELDS
from notary.readauth import READER_HEADER, SIGNATURE_HEADER, TIME_HEADER, ReadAccess
from notary.service import NotaryService
from tests.support.notary_world import LogWorld
from tests.support.openapi import answer_objects, bare_objects

#: The routes that do not answer JSON, and the media type each must declare.
NOT_JSON = {
    "/checkpoint": "text/plain",
    "/tile/{path}": "application/octet-stream",
    "/metrics": "text/plain",
}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotaryService]:
    world = LogWorld(Path(tmp_path_factory.mktemp("openapi")))
    notary = world.notary()
    try:
        yield notary
    finally:
        notary.stop()
        world.close()


@pytest.fixture(scope="module")
def spec(service: NotaryService) -> dict[str, Any]:
    return create_app(service).openapi()


@pytest.fixture(scope="module")
def authenticated(service: NotaryService) -> FastAPI:
    """The app as ``consortium up`` builds it: reads authenticated (by a ``ReadAccess`` knowing one gateway key;
    which keys does not change the document)."""
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return create_app(service, ReadAccess({"shuzhi-tech": key}, {}, (), ()))


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$ref`` (and those it leads to) followed."""
    seen: set[str] = set()
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/") and ref not in seen, ref
        seen.add(ref)
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        schema = target
    return schema


def gets(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {path: item["get"] for path, item in spec["paths"].items() if "get" in item}


def test_every_json_get_declares_a_200_body_with_properties(spec: dict[str, Any]) -> None:
    routes = gets(spec)
    v1 = [path for path in routes if path.startswith("/v1/")]
    assert len(v1) >= 10, v1  # receipts, entries, proofs, checkpoints, anchors, gaps, alarms, evidence
    missing = []
    for path, operation in routes.items():
        if path in NOT_JSON:
            continue
        content = operation["responses"].get("200", {}).get("content", {})
        body = content.get("application/json", {}).get("schema")
        schema = resolve(spec, body) if body is not None else {}
        if schema.get("type") != "object" or not schema.get("properties"):
            missing.append(path)
    assert missing == [], f"JSON GETs without a described 200 body (give them a response_model): {missing}"


def test_every_property_of_a_json_body_resolves(spec: dict[str, Any]) -> None:
    for path, operation in gets(spec).items():
        if path in NOT_JSON:
            continue
        schema = resolve(spec, operation["responses"]["200"]["content"]["application/json"]["schema"])
        for name, prop in schema["properties"].items():
            assert resolve(spec, prop) is not None, (path, name)


def test_every_object_nested_in_a_v1_answer_documents_its_properties(spec: dict[str, Any]) -> None:
    seen = answer_objects(spec, "/v1/")
    bare = bare_objects(seen)
    assert not bare, f"objects nested in a /v1 200 answer without properties: {sorted(bare)}"
    event = spec["components"]["schemas"]["EntryEvent"]
    assert list(event["properties"]) == sorted(FIELDS | OPTIONAL_FIELDS.keys())  # the entry's order: RFC 8785
    assert set(event["required"]) == set(FIELDS) and event["additionalProperties"] is False


def test_the_alarms_page_documents_its_cursor_and_limit(spec: dict[str, Any]) -> None:
    """``/v1/alarms`` pages: its answer has ``next`` (a string, or null on the last page) beside ``alarms``, and
    it takes ``limit`` (1 to 1000, 100 by default), ``cursor`` and ``state``; a bad cursor's 400 is documented."""
    operation = gets(spec)["/v1/alarms"]
    body = resolve(spec, operation["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(body["properties"]) == {"alarms", "next"} and set(body["required"]) == {"alarms", "next"}
    assert {t.get("type") for t in body["properties"]["next"]["anyOf"]} == {"string", "null"}
    params = {p["name"]: p for p in operation["parameters"]}
    assert set(params) == {"state", "limit", "cursor"}
    assert (params["limit"]["schema"]["minimum"], params["limit"]["schema"]["maximum"]) == (1, 1000)
    assert params["limit"]["schema"]["default"] == 100
    assert {"400", "422"} <= set(operation["responses"])


def test_text_and_binary_gets_declare_their_media_type(spec: dict[str, Any]) -> None:
    routes = gets(spec)
    for path, media_type in NOT_JSON.items():
        content = routes[path]["responses"]["200"]["content"]
        assert list(content) == [media_type], (path, list(content))
        assert content[media_type]["schema"]["type"] == "string", path


def test_every_refusal_is_documented_as_json_with_the_error_body(spec: dict[str, Any]) -> None:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            refusals = {s: r for s, r in operation["responses"].items() if s.startswith(("4", "5"))}
            assert refusals, (method, path)
            for status, answer in refusals.items():
                assert answer["content"] == error, (method, path, status)
    write = spec["paths"]["/v1/batches"]["post"]["responses"]
    assert {"400", "401", "403", "409", "413", "422", "503", "507"} <= set(write)
    assert {"400", "404", "422", "503"} <= set(spec["paths"]["/v1/proofs/inclusion"]["get"]["responses"])


# -- how reads are authenticated -----------------------------------------------------------------------------

#: A value for each path parameter, to ask every documented GET.
PATH_VALUES = {"event_id": "no-such-event", "size": "1", "path": "0/000"}
#: The query each route needs to get past its parameters' checks to the credentials (FastAPI resolves both
#: before the route runs: a missing required parameter would answer 422 first).
QUERIES = {"/v1/proofs/consistency": "?from=0&to=1"}


def test_the_schemes_are_those_readauth_accepts(authenticated: FastAPI) -> None:
    schemes = authenticated.openapi()["components"]["securitySchemes"]
    bearers = {name for name, s in schemes.items() if (s["type"], s.get("scheme")) == ("http", "bearer")}
    assert bearers == {"login", "monitor"}, schemes
    assert schemes["login"]["bearerFormat"] == "JWT"
    headers = {s["name"]: name for name, s in schemes.items() if s["type"] == "apiKey"}
    assert all(schemes[n]["in"] == "header" for n in headers.values())
    assert set(headers) == {READER_HEADER, TIME_HEADER, SIGNATURE_HEADER}
    assert all(s["description"] for s in schemes.values())


def test_every_authenticated_route_references_the_schemes(authenticated: FastAPI) -> None:
    document = authenticated.openapi()
    schemes = document["components"]["securitySchemes"]
    signed = {name for name, s in schemes.items() if s["type"] == "apiKey"}
    asked = 0
    with TestClient(authenticated) as client:
        for template, item in document["paths"].items():
            for method, operation in item.items():
                security = operation.get("security")
                if (method, template) == ("post", "/v1/alarms/{alarm_id}/resolve"):  # a reader's one write
                    answer = client.post("/v1/alarms/1/resolve?reason=checked")
                    assert security == operation_security(document, "/v1/alarms", "get"), security
                    assert answer.status_code == 401, answer.text
                    continue
                if method != "get":
                    assert template == "/v1/batches" and security is None, (method, template)
                    continue
                path = template
                for name, value in PATH_VALUES.items():
                    path = path.replace("{" + name + "}", value)
                answer = client.get(path + QUERIES.get(template, ""))
                asked += 1
                assert security, f"GET {template} declares no security; anonymously it answered {answer.status_code}"
                for requirement in security:
                    assert set(requirement) <= set(schemes), (template, requirement)
                    # a signed read is its three headers together, never one of them alone
                    assert not set(requirement) & signed or set(requirement) == signed, (template, requirement)
                assert {"login": []} in security, template
                assert {name: [] for name in signed} in security, template
                if {} in security:  # anonymous allowed: /healthz, liveness only
                    assert (template, answer.status_code, answer.json()) == ("/healthz", 200, {"ok": True})
                    continue
                assert answer.status_code == 401, (template, answer.status_code, answer.text)
                refusal = operation["responses"]["401"]["content"]["application/json"]["schema"]
                assert refusal == {"$ref": "#/components/schemas/ErrorBody"}, template
                assert READER_HEADER in answer.json()["error"], answer.text  # it says what to send
    assert asked >= 14  # ten JSON reads, the two tlog-tiles routes, /healthz and /metrics


def operation_security(document: dict[str, Any], path: str, method: str) -> Any:
    return document["paths"][path][method]["security"]


def test_an_open_notary_declares_no_credentials(spec: dict[str, Any]) -> None:
    assert "securitySchemes" not in spec.get("components", {})
    assert not [p for p, item in spec["paths"].items() for op in item.values() if "security" in op]
