"""Outsiders at the explorer's write methods, and a witness's credential at the explorer, in process (FastAPI's
test client around the app ``create_app`` builds; no socket, nothing behind the routes is asked).

The routes are read from the app itself (``app.routes``, and the API's included routers through FastAPI's
``effective_route_contexts``), not listed here, so a route added later is covered
without touching this file: every route that takes a method other than GET and HEAD, and every path of the app
asked with each write method, answers an outsider (no ``Authorization``, a token the login check refuses, the
notary's signed-read headers of a witness) 401 under ``/api/``, before any route runs; and no route outside
``/api/`` (where the gatekeeper does not look) takes a write method. The explorer has no write route today
(docs/confidentiality.md, "Every read path, by reader": any other method is 405 for a member, 401 for an
outsider); the last test adds one to a copy of the app to show that the check finds it. The login is the
stand-in of ``tests/support/org_logins.py`` (the token is the org); the real check of a forged token (another
CA's, a bad signature) is ``tests/unit/network/test_logins.py``'s."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from explorer.api import API, Explorer, Limits, create_app
from notary.readauth import sign_read
from tests.support.org_logins import OrgTokenLogins

MEMBER = "jinghua-sec"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
#: What an outsider sends: nothing, tokens the login check refuses, and a witness's signed-read headers (what a
#: witness's key signs for the notary; the explorer takes a person's login token only).
OUTSIDERS: dict[str, dict[str, str]] = {
    "no token": {},
    "a forged token": {"Authorization": "Bearer forged"},
    "a witness's signed read": sign_read("alpha/witness", Ed25519PrivateKey.from_private_bytes(b"\x07" * 32), "GET",
                                         f"{API}/checkpoints", 1_795_000_000.0),
}  # fmt: skip


def app() -> FastAPI:
    stand_in = SimpleNamespace(auth=OrgTokenLogins(MEMBER), recorder=None, limits=Limits(rate=1e6, burst=10**6))
    return create_app(cast(Explorer, stand_in))


def concrete(path: str) -> str:
    """A request path for a route's template: each ``{param}`` (or ``{param:path}``) filled in."""
    return re.sub(r"\{[^}]+\}", "x", path)


def routes(found: FastAPI) -> list[tuple[str, set[str]]]:
    """(path template, methods) of every route of ``found``. The routes of an included router (every route of the
    API) are one entry of ``found.routes``; FastAPI gives each of them, with its full path, from that entry's
    ``effective_route_contexts()``. Static files (a ``Mount``) take GET and HEAD only."""
    found_routes: list[tuple[str, set[str]]] = []
    for route in found.routes:
        included = getattr(route, "effective_route_contexts", None)
        if included is not None:
            found_routes += [(r.path, set(r.methods or ())) for r in included()]
        elif isinstance(route, Route):
            found_routes.append((route.path, set(route.methods or ())))
        elif isinstance(route, Mount):
            found_routes.append((route.path + "/{path}", {"GET", "HEAD"}))
        else:
            raise AssertionError(f"a route of a kind this test does not know: {route!r}")
    return found_routes


def write_routes(found: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route of ``found`` that takes a method other than GET and HEAD."""
    return sorted((method, path) for path, methods in routes(found) for method in methods - {"GET", "HEAD"})


def every_path(found: FastAPI) -> list[str]:
    return sorted({concrete(path) for path, _ in routes(found)})


def refusals(found: FastAPI, outsiders: tuple[str, ...] = tuple(OUTSIDERS)) -> list[tuple[str, str, str, int]]:
    """Each (outsider, method, path, status) where an outsider was not answered 401, over the write routes of
    ``found`` and every path of it asked with each write method; a path outside ``/api/`` that takes a write
    method is one too (the gatekeeper guards ``/api/`` only)."""
    client = TestClient(found)
    asked = {(m, concrete(p)) for m, p in write_routes(found)}
    asked |= {(m, p) for p in every_path(found) if p.startswith(f"{API}/") for m in WRITES}
    wrong = [("anyone", m, p, 0) for m, p in write_routes(found) if not p.startswith("/api/")]
    for who in outsiders:
        for method, path in sorted(asked):
            status = client.request(method, path, headers=OUTSIDERS[who]).status_code
            if status != 401:
                wrong.append((who, method, path, status))
    return wrong


def test_every_write_method_of_the_explorer_is_401_to_an_outsider() -> None:
    found = app()
    assert len(every_path(found)) >= 30  # the routes were read (32 API GETs, the probe, static, the page)
    assert write_routes(found) == []  # none today: every write method below is one no route takes
    assert refusals(found) == []


def test_a_members_write_is_refused_after_the_login_with_no_route_written() -> None:
    """The 401s above are the login's: a member's write to the same paths is 405 (no route takes it) with an
    ``Allow`` naming GET, never 2xx."""
    client = TestClient(app())
    for path in every_path(app()):
        if path.startswith(f"{API}/"):
            answer = client.post(path, headers={"Authorization": f"Bearer {MEMBER}"})
            assert answer.status_code == 405 and "GET" in answer.headers["allow"], (path, answer.status_code)


def test_a_witness_reads_nothing_of_the_explorer() -> None:
    """Every GET route of ``/api/`` answers a witness's credential as it answers no credential: 401 (the
    paragraph on a witness of docs/confidentiality.md, "Every read path, by reader"; the other outsiders at the
    GET routes are the tenancy suite's)."""
    found = app()
    client = TestClient(found)
    api = sorted({concrete(p) for p, methods in routes(found) if "GET" in methods and p.startswith(f"{API}/")})
    assert len(api) >= 30
    for path in api:
        answer = client.get(path, headers=OUTSIDERS["a witness's signed read"])
        assert answer.status_code == 401, (path, answer.status_code)


def test_a_write_route_added_later_is_covered_and_refused() -> None:
    """A POST route added under ``/api/`` as the API's routes are (an included router) is found and refused to
    outsiders (401) with no change to this file, and to a member by the read-only rule (403 ``read_only``, the
    route never runs); one added outside ``/api/``, where no login is asked, is reported."""
    found = app()
    written: list[str] = []

    def write(note_id: str) -> dict[str, bool]:
        written.append(note_id)
        return {"written": True}

    added = APIRouter(prefix=API)
    added.add_api_route("/notes/{note_id}", write, methods=["POST"])
    found.include_router(added)
    found.add_api_route("/hooks/{note_id}", write, methods=["PUT"])
    assert write_routes(found) == [("POST", f"{API}/notes/{{note_id}}"), ("PUT", "/hooks/{note_id}")]
    wrong = refusals(found, ("no token", "a forged token"))
    assert {(w[1], w[2]) for w in wrong} == {("PUT", "/hooks/{note_id}"), ("PUT", "/hooks/x")}  # the API one: 401
    member = TestClient(found).post(f"{API}/notes/n1", headers={"Authorization": f"Bearer {MEMBER}"})
    assert (member.status_code, member.json()["error"]) == (403, "read_only")
    assert written == ["x", "x"]  # only the route outside /api/ ran, once per outsider
