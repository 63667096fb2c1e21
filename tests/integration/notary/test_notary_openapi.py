"""The notary's OpenAPI description says what every read returns: each JSON GET a 200 body with its properties
(through ``$ref``), each text or binary GET its media type. The app is built around a real ``NotaryService``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notary.api import create_app
from tests.support.notary_world import LogWorld

#: The routes that do not answer JSON, and the media type each must declare.
NOT_JSON = {
    "/checkpoint": "text/plain",
    "/tile/{path}": "application/octet-stream",
    "/metrics": "text/plain",
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    world = LogWorld(Path(tmp_path_factory.mktemp("openapi")))
    service = world.notary()
    try:
        yield create_app(service).openapi()
    finally:
        service.stop()
        world.close()


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
