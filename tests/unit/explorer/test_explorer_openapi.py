"""The explorer's OpenAPI document describes every answer of the JSON API: each ``/api/v1`` GET has a 200
answer whose JSON schema has properties (an object, or an array of objects), or declares the non-JSON media
type it streams (CSV, zip), and every object nested in such an answer (down to each part of an evidence
bundle, the arguments of each event and each call of our contracts, the health relayed from the other parts) has its
properties too; every refusal it can answer, with the one error body; and the login, a JWT bearer scheme on
every ``/api`` route. The document is built in process; nothing is served."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast
from unittest.mock import ANY

import pytest

from contracts import ARTIFACT_DIR
from explorer.api import API, Explorer, Limits, create_app
from tests.support.openapi import answer_objects, bare_objects, is_json


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    # The document does not depend on the consortium: the app is built around a stand-in that is never asked.
    stand_in = SimpleNamespace(auth=None, recorder=None, limits=Limits())
    return create_app(cast(Explorer, stand_in)).openapi()


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$ref``s into ``#/components/schemas`` followed."""
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/components/schemas/"), ref
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def has_properties(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = resolve(spec, schema)
    if "oneOf" in schema:  # one model per kind (a transaction: per call of our contracts), each with its properties
        return all(has_properties(spec, choice) for choice in schema["oneOf"])
    if schema.get("type") == "array":
        return has_properties(spec, schema.get("items", {}))
    return schema.get("type") == "object" and bool(schema.get("properties"))


def test_every_api_get_documents_its_answer(spec: dict[str, Any]) -> None:
    gets = {path: ops["get"] for path, ops in spec["paths"].items() if path.startswith(f"{API}/") and "get" in ops}
    assert len(gets) == 32, sorted(gets)
    undocumented = []
    for path, op in gets.items():
        content = op["responses"].get("200", {}).get("content", {})
        json_types = [m for m in content if is_json(m)]
        if json_types:
            ok = all(has_properties(spec, content[m].get("schema", {})) for m in json_types)
        else:  # a stream: its media type says what it is
            ok = bool(content)
        if not ok:
            undocumented.append((path, content))
    assert not undocumented


#: The parts of the notary's evidence bundle, which the provenance and evidence answers carry.
EVIDENCE_PARTS = {
    "Evidence", "Receipt", "EvidenceCheckpoint", "EvidenceInclusion", "AnchorEvidence", "AnchorTransaction",
    "AnchorProofs", "AnchorBlock", "Seals", "NoSeals", "Pending",
}  # fmt: skip


def test_every_object_nested_in_an_answer_documents_its_properties(spec: dict[str, Any]) -> None:
    seen = answer_objects(spec, f"{API}/")
    bare = bare_objects(seen)
    assert not bare, f"objects nested in a 200 answer without properties: {sorted(bare)}"
    assert set(seen) >= EVIDENCE_PARTS  # the bundle's parts are reached, each with its properties
    evidence = spec["components"]["schemas"]["Evidence"]["properties"]
    assert set(evidence) == {
        "format", "origin", "event_id", "index", "entry", "leaf_hash", "receipt", "checkpoint", "inclusion", "anchor",
        "pending",
    }  # fmt: skip
    anchor = spec["components"]["schemas"]["AnchorEvidence"]["properties"]
    assert set(anchor) == {"chain_id", "contract", "size", "transaction", "block", "seals"}
    assert set(spec["components"]["schemas"]["Receipt"]["properties"]) >= {"batch_note", "batch_proof", "leaf_hash"}


def test_a_transaction_documents_the_arguments_of_every_compiled_call(spec: dict[str, Any]) -> None:
    """A transaction is a ``oneOf`` with a variant per function and constructor of the compiled ABIs (read here as
    files), its contract and function constants and its ``args`` the inputs in order, no other key; the
    undecoded and redacted variants have ``args`` null."""
    calls = {}
    for path in sorted(ARTIFACT_DIR.glob("*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8"))["abi"]:
            if entry["type"] in ("function", "constructor"):
                calls[(path.stem, entry.get("name", "constructor"))] = entry["inputs"]
    assert len(calls) >= 105
    answer = spec["paths"][f"{API}/transactions/{{tx_hash}}"]["get"]["responses"]["200"]["content"]
    documented, others = {}, set()
    for choice in resolve(spec, answer["application/json"]["schema"])["oneOf"]:
        props = resolve(spec, choice)["properties"]
        if "const" in props["contract"]:
            documented[(props["contract"]["const"], props["function"]["const"])] = resolve(spec, props["args"])
        else:
            others.add((choice["$ref"].rsplit("/", 1)[1], json.dumps(props["args"])))
    assert others == {("UndecodedTransaction", '{"type": "null", "title": "Args"}'),
                      ("RedactedTransaction", '{"type": "null", "title": "Args"}')}  # fmt: skip
    assert set(documented) == set(calls)
    for call, inputs in calls.items():
        args = documented[call]
        assert list(args.get("properties", {})) == [i["name"] for i in inputs], call
        assert args["additionalProperties"] is False
        for i in inputs:
            prop = args["properties"][i["name"]]
            assert prop["description"].startswith(i["type"]), (call, i["name"])
            wanted = "integer" if i["type"].startswith(("uint", "int")) else "boolean" if i["type"] == "bool" else ""
            assert wanted in json.dumps(prop), (call, i["name"], prop)


def test_every_property_of_an_answer_is_described(spec: dict[str, Any]) -> None:
    """No model field is an empty schema: no answer holds a value of any shape (``Any``)."""
    empty = [
        (name, prop)
        for name, schema in spec["components"]["schemas"].items()
        for prop, value in schema.get("properties", {}).items()
        if set(value) <= {"title", "description"}
    ]
    assert not empty


def test_the_streamed_exports_declare_their_media_types(spec: dict[str, Any]) -> None:
    def media(path: str) -> set[str]:
        return set(spec["paths"][f"{API}{path}"]["get"]["responses"]["200"]["content"])

    assert media("/exports/calls.csv") == {"text/csv"}
    assert media("/exports/evidence.zip") == {"application/zip"}
    assert media("/exports/calls.json") == {"application/json"}
    assert media("/reports/{org}") == {"application/json", "text/csv", "text/html"}


def test_the_login_is_declared_as_a_jwt_bearer_scheme_on_every_api_route(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes == {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": ANY}}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            wanted: list[dict[str, list[str]]] | None = [{"bearer": []}] if path.startswith(f"{API}/") else None
            assert op.get("security") == wanted, (method, path)


def test_every_refusal_is_documented_with_the_error_body(spec: dict[str, Any]) -> None:
    for path, ops in spec["paths"].items():
        if not path.startswith(f"{API}/"):
            continue
        responses = ops["get"]["responses"]
        assert {"401", "404", "413", "422", "429", "503"} <= set(responses), path
        for status, answer in responses.items():
            if status.startswith(("4", "5")):
                assert answer["content"] == {"application/json": {"schema": ERROR}}, (path, status)
    assert "400" in spec["paths"][f"{API}/calls"]["get"]["responses"]
    assert "502" in spec["paths"][f"{API}/calls/{{event_id}}/evidence"]["get"]["responses"]
    body = spec["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["error", "detail"] and body["properties"]["detail"]["type"] == "string"


ERROR = {"$ref": "#/components/schemas/ErrorBody"}
