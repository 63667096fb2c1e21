"""How the OpenAPI document says a notary's reads are authenticated, when the app authenticates them
(``create_app`` with a ``ReadAccess``; a notary built without one declares nothing, since it asks for nothing).

The credentials are those ``notary.readauth`` accepts, as ``components.securitySchemes``:

- ``login``: ``Authorization: Bearer <login token>``, a person's login token (``network.logins``, as the
  explorer's);
- ``reader``, ``readTime``, ``readSignature``: a service's signed read, three headers that go together (one
  security requirement naming the three: OpenAPI's "and");
- ``monitor``: ``Authorization: Bearer <notary/monitor.token>``, for the operations figures only;
- ``memberCertificate`` (OpenAPI's ``mutualTLS``), when the access takes client certificates: a member's identity
  certificate presented in the TLS handshake of a notary served over HTTPS (``notary serve --tls-cert``).

Each operation then names the requirements it accepts, any one of which is enough (OpenAPI's "or"):

- every route that depends on ``deps.Reading`` (the JSON reads, the checkpoint, the tiles): a login, a signed read
  or, where accepted, a member's certificate;
- ``/metrics``: those or the monitor token;
- ``/healthz``: the same, or nothing at all (``{}``): without credentials it answers liveness only;
- ``POST /v1/batches``: none here. A batch is authenticated by its own signature, over the body, in the
  ``Consortium-Gateway`` and ``Consortium-Signature`` headers that the route declares as parameters.

The schemes are added to the document FastAPI generates (:func:`declare`), rather than by FastAPI's security
dependencies: those can only say that any one of the three headers of a signed read would do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from notary.api import deps, operations
from notary.readauth import MAX_SKEW_S, READ_CONTEXT, READER_HEADER, SIGNATURE_HEADER, TIME_HEADER

LOGIN: Final = "login"
READER: Final = "reader"
READ_TIME: Final = "readTime"
READ_SIGNATURE: Final = "readSignature"
MONITOR: Final = "monitor"
CERTIFICATE: Final = "memberCertificate"

_SIGNED = (
    f"A service's signed read: `{READER_HEADER}`, `{TIME_HEADER}` and `{SIGNATURE_HEADER}` together, the signature "
    f"over `{READ_CONTEXT.decode().strip()}\\n` ‖ time ‖ `\\n` ‖ method ‖ ` ` ‖ path with its query"
)
SCHEMES: Final[dict[str, dict[str, Any]]] = {
    LOGIN: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A person's login token (`consortium user token`, the explorer's): an ES256 JWT whose x5c "
        "certificate chains to a member's CA; the person reads as their firm, the regulator's people as regulator",
    },
    READER: {
        "type": "apiKey",
        "in": "header",
        "name": READER_HEADER,
        "description": f"{_SIGNED}. This one: `<org>/<name>`, signing with the org's gateway key, or `<org>/witness` "
        "with its witness key",
    },
    READ_TIME: {
        "type": "apiKey",
        "in": "header",
        "name": TIME_HEADER,
        "description": f"{_SIGNED}. This one: the request's time in unix seconds, at most {MAX_SKEW_S} s from the "
        "notary's clock",
    },
    READ_SIGNATURE: {
        "type": "apiKey",
        "in": "header",
        "name": SIGNATURE_HEADER,
        "description": f"{_SIGNED}. This one: the base64 signature (Ed25519; SM2 with ID 1234567812345678, r ‖ s, "
        "under the `sm` suite)",
    },
    MONITOR: {
        "type": "http",
        "scheme": "bearer",
        "description": "The consortium's monitor token (`notary/monitor.token`): it opens `/healthz`'s figures and "
        "`/metrics`, nothing else",
    },
}

#: Declared only by a notary whose access takes client certificates (``ReadAccess.accepts_certificates``).
CERTIFICATE_SCHEME: Final[dict[str, Any]] = {
    "type": "mutualTLS",
    "description": "A member's identity certificate (issued by a member CA, clientAuth), presented in the TLS "
    "handshake of a notary served over HTTPS: the firm reads as with a login token; the regulator's people with "
    "the regulator role, and its services' certificates, as the regulator",
}

Requirement = dict[str, list[str]]
#: A person's login, or a service's signed read.
READS: Final[list[Requirement]] = [{LOGIN: []}, {READER: [], READ_TIME: [], READ_SIGNATURE: []}]
#: The operations figures: a reader's credentials or the monitor token.
FIGURES: Final[list[Requirement]] = [*READS, {MONITOR: []}]
#: ``/healthz``: the figures with credentials, liveness without.
HEALTH: Final[list[Requirement]] = [{}, *FIGURES]


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


def requirements(route: APIRoute, certificates: bool = False) -> list[Requirement] | None:
    """The security requirements of ``route`` when reads are authenticated (with ``certificates``, a member's
    client certificate among them); ``None`` for one that takes no reader's credentials."""
    extra: list[Requirement] = [{CERTIFICATE: []}] if certificates else []
    if route.endpoint is operations.health:
        return [*HEALTH, *extra]
    if route.endpoint is operations.metrics:
        return [*FIGURES, *extra]
    if _depends_on(route.dependant, deps.read):
        return [*READS, *extra]
    return None


def declare(app: FastAPI, routes: Iterable[Any], certificates: bool = False) -> None:
    """Make ``app``'s OpenAPI document declare :data:`SCHEMES` (and :data:`CERTIFICATE_SCHEME` with
    ``certificates``) and, per operation of ``routes`` (the routes of the routers ``app`` includes without a
    prefix), its :func:`requirements` (added once, to the document FastAPI generates and caches)."""
    generate = app.openapi
    found = [(r, requirements(r, certificates)) for r in routes if isinstance(r, APIRoute) and r.include_in_schema]
    schemes = {**SCHEMES, CERTIFICATE: CERTIFICATE_SCHEME} if certificates else SCHEMES

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document.setdefault("components", {})["securitySchemes"] = schemes
            for route, required in found:
                if required is None:
                    continue
                item = document["paths"][route.path_format]  # KeyError: a route the document does not have
                for method in route.methods or ():
                    item[method.lower()]["security"] = required
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
