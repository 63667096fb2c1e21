"""Walking an OpenAPI document: every object schema nested in the JSON 200 answers of a prefix's GETs, and those
of them that document no properties (an object free-form by accident; an object that declares it has none, with
``additionalProperties: false``, such as the arguments of a function that takes none, is not free-form)."""

from __future__ import annotations

from typing import Any


def is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def nested_objects(spec: dict[str, Any], schema: dict[str, Any], where: str, seen: dict[str, dict[str, Any]]) -> None:
    """Each object schema reachable from ``schema``, by where it is (``Model.field``, ``[]`` an item, ``{}`` a
    map's value), into ``seen``; a component is walked once, under its own name."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name not in seen:
            seen[name] = spec["components"]["schemas"][name]
            nested_objects(spec, seen[name], name, seen)
        return
    for choice in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        nested_objects(spec, choice, where, seen)
    if schema.get("type") == "array":
        nested_objects(spec, schema.get("items", {}), f"{where}[]", seen)
    if schema.get("type") == "object" or "properties" in schema:
        seen.setdefault(where, schema)
        for prop, value in schema.get("properties", {}).items():
            nested_objects(spec, value, f"{where}.{prop}", seen)
        if isinstance(schema.get("additionalProperties"), dict):
            nested_objects(spec, schema["additionalProperties"], f"{where}{{}}", seen)


def answer_objects(spec: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    """Every object schema nested in the JSON 200 answer of a GET under ``prefix``, by where it is."""
    seen: dict[str, dict[str, Any]] = {}
    for path, ops in spec["paths"].items():
        if path.startswith(prefix) and "get" in ops:
            for media_type, body in ops["get"]["responses"].get("200", {}).get("content", {}).items():
                if is_json(media_type):
                    nested_objects(spec, body.get("schema", {}), path, seen)
    return seen


def bare_objects(seen: dict[str, dict[str, Any]]) -> set[str]:
    """Where an object documents neither its properties nor the schema of a map's values, nor that it has none (a
    component that is one of several schemas is not an object: each of its choices is walked on its own)."""
    return {
        where
        for where, schema in seen.items()
        if not schema.get("properties")
        and not schema.get("oneOf")
        and not isinstance(schema.get("additionalProperties"), dict)
        and schema.get("additionalProperties") is not False
    }


__all__ = ["answer_objects", "bare_objects", "is_json", "nested_objects"]
