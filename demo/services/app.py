"""The demo services' aiohttp application: routes every API of a catalogue to its generator, caches the
answers of small requests, streams large ones, and serves it (:func:`serve`; :func:`main` for
``python -m demo.services``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from aiohttp import web

from demo.services import institutional_business, investment_research, public_business
from demo.services.request import JSON_TYPE, BadRequestError, Generator, Req, Streamed, error_response, json_bytes
from demo.services.universe import UNIVERSE
from gateway.headers import CALLER_ORG_HEADER
from network.config import Api, Catalogue, load_config
from privacy.service import MAX_REQUEST_BYTES as PSI_MAX_REQUEST_BYTES

MAX_BODY_BYTES: Final = 64 * 1024
MAX_STREAM_LIMIT: Final = 1_000_000
#: Rows above which a streaming route answers in chunks (chunked transfer encoding).
STREAM_THRESHOLD: Final = 1000
STREAM_BATCH: Final = 2000
CACHE_ENTRIES: Final = 4096
CACHE_MAX_BODY: Final = 32 * 1024


# -- the table of APIs ---------------------------------------------------------------------------------------------

#: Every generator of the demo catalogue, center by center, by API id.
GENERATORS: Final[dict[str, Generator | Streamed]] = {
    **public_business.GENERATORS,
    **investment_research.GENERATORS,
    **institutional_business.GENERATORS,
}


def _generic(r: Req) -> Any:
    """An API this module has no generator for (another catalogue): plausible records of its asset."""
    if r.api.method in ("POST", "PUT"):
        return {"accepted": True, "id": f"{r.api.id}-{r.hexid('id', 12)}", "fields": sorted(r.body)[:50]}
    if r.api.method == "DELETE":
        return {"deleted": True, "id": r.text("id", f"{r.api.id}-1")}
    return [
        {"id": f"{r.api.id}-{k + 1}", "symbol": s.symbol, "value": r.num(0, 1000), "date": r.date.isoformat()}
        for k, s in enumerate(r.rng.sample(UNIVERSE, min(len(UNIVERSE), r.limit(10, len(UNIVERSE)))))
    ]


# -- the application -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Endpoint:
    api: Api
    unit: str
    center: str
    generate: Generator | Streamed
    meta_head: str  # the JSON of the metadata's fixed fields, without braces


def _endpoints(catalogue: Catalogue, provider: str | None) -> dict[str, dict[str, _Endpoint]]:
    routes: dict[str, dict[str, _Endpoint]] = {}
    for center in catalogue.centers:
        for unit in center.units:
            for api in unit.apis:
                if provider is not None and api.provider != provider:
                    continue
                head = json.dumps(
                    {
                        "api": api.id,
                        "name": api.name,
                        "unit": unit.id,
                        "center": center.id,
                        "provider": api.provider,
                        "asset": api.asset,
                    },
                    ensure_ascii=False,
                    separators=(",", ":"),
                )[1:-1]
                generate = GENERATORS.get(api.id, _generic)
                routes.setdefault(api.route, {})[api.method] = _Endpoint(api, unit.id, center.id, generate, head)
    if not routes:
        providers = sorted({a.provider for a in catalogue.apis()})
        raise ValueError(f"provider {provider!r} serves no API of the catalogue; providers: {', '.join(providers)}")
    return routes


def _seed(method: str, path: str, query: Mapping[str, str], body: bytes) -> bytes:
    h = hashlib.sha256()
    h.update(f"{method}\n{path}\n".encode())
    for key, value in sorted(query.items()):
        h.update(f"{len(key)}:{key}={len(value)}:{value}&".encode())
    h.update(b"\n")
    h.update(body)
    return h.digest()


async def _read_body(request: web.Request) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise BadRequestError(f"the body is {length} bytes; at most {MAX_BODY_BYTES} are accepted")
    body = bytearray()
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadRequestError(f"the body is over {MAX_BODY_BYTES} bytes")


def _parse_body(method: str, raw: bytes) -> dict[str, Any]:
    if method not in ("POST", "PUT") or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequestError(f"the body must be a JSON object, not {type(value).__name__}")
    return value


class _Cache:
    """Answers of small requests, least recently used first out."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.items: OrderedDict[tuple[str, str, str, bytes, str | None], bytes] = OrderedDict()

    def get(self, key: tuple[str, str, str, bytes, str | None]) -> bytes | None:
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
        return found

    def put(self, key: tuple[str, str, str, bytes, str | None], value: bytes) -> None:
        self.items[key] = value
        if len(self.items) > self.entries:
            self.items.popitem(last=False)


class StepRoutes(Protocol):
    """A PSI service's step routes (``privacy.service.PsiService``, or ``demo.privacy.DeferredPsi``)."""

    def add_routes(self, app: web.Application) -> None: ...


def make_app(catalogue: Catalogue, *, provider: str | None = None, psi: Sequence[StepRoutes] = ()) -> web.Application:
    """The demo upstream of ``provider``'s APIs (every API of the catalogue when None), and the step routes of
    each PSI service of ``psi`` (``demo.privacy``: an owner's identifier set, behind the owner's gateway as its
    other APIs are), which take request bodies up to the PSI service's limit instead of ``MAX_BODY_BYTES``."""
    routes = _endpoints(catalogue, provider)
    cache = _Cache(CACHE_ENTRIES)
    health = json_bytes(
        {"status": "ok", "provider": provider, "apis": sum(len(m) for m in routes.values()), "routes": len(routes)}
    )
    json_headers = {"Content-Type": JSON_TYPE}

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(body=health, headers=json_headers)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        methods = routes.get(request.path)
        if methods is None:
            return error_response(404, "not_found", f"no API at {request.path[:200]}")
        endpoint = methods.get(request.method)
        if endpoint is None:
            allow = ", ".join(sorted(methods))
            return error_response(405, "method_not_allowed", f"{request.path} answers {allow}", {"Allow": allow})
        caller = request.headers.get(CALLER_ORG_HEADER)
        if caller is not None:
            caller = caller[:64]
        try:
            raw = await _read_body(request) if request.body_exists else b""
            key = (request.method, request.path, request.query_string, raw, caller)
            if len(raw) <= 1024:
                cached = cache.get(key)
                if cached is not None:
                    return web.Response(body=cached, headers=json_headers)
            req = Req(
                endpoint.api,
                endpoint.unit,
                endpoint.center,
                request.query,
                _parse_body(request.method, raw),
                _seed(request.method, request.path, request.query, raw),
            )
            generate = endpoint.generate
            if isinstance(generate, Streamed):
                n = req.limit(generate.default, MAX_STREAM_LIMIT)
                meta = generate.meta(req)
                if n > STREAM_THRESHOLD:
                    return await _stream(request, endpoint, req, caller, meta, generate.rows(req, n), n)
                data: Any = {**meta, "rows": list(generate.rows(req, n))}
                count: int | None = n
            else:
                data = generate(req)
                count = len(data) if isinstance(data, list) else None
            envelope = _envelope(endpoint, req, caller, count)  # reads the date: a bad one is the caller's mistake
        except BadRequestError as exc:
            return error_response(400, "bad_request", str(exc))
        body = envelope + json_bytes(data) + b"}"
        if len(raw) <= 1024 and len(body) <= CACHE_MAX_BODY:
            cache.put(key, body)
        return web.Response(body=body, headers=json_headers)

    # the catalogue's routes read their bodies themselves, at most MAX_BODY_BYTES (_read_body)
    app = web.Application(client_max_size=PSI_MAX_REQUEST_BYTES if psi else MAX_BODY_BYTES + 1)
    app.router.add_get("/healthz", healthz)
    for service in psi:  # before the catch-all
        service.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _envelope(endpoint: _Endpoint, req: Req, caller: str | None, count: int | None) -> bytes:
    """``{"meta":{...},"data":`` up to the data itself."""
    extra: dict[str, Any] = {"caller_org": caller, "request_id": req.seed.hex()[:16], "as_of": req.date.isoformat()}
    if count is not None:
        extra["count"] = count
    return f'{{"meta":{{{endpoint.meta_head},{json_bytes(extra).decode()[1:]},"data":'.encode()


async def _stream(
    request: web.Request,
    endpoint: _Endpoint,
    req: Req,
    caller: str | None,
    meta: dict[str, Any],
    rows: Iterator[Any],
    n: int,
) -> web.StreamResponse:
    """Write ``{"meta":...,"data":{...meta,"rows":[`` then the rows in batches, then ``]}}``, chunked."""
    response = web.StreamResponse(headers={"Content-Type": JSON_TYPE})
    response.enable_chunked_encoding()
    await response.prepare(request)
    head = _envelope(endpoint, req, caller, n) + json_bytes(meta)[:-1] + b',"rows":['
    await response.write(head)
    first = True
    while True:
        batch = [row for _, row in zip(range(STREAM_BATCH), rows, strict=False)]
        if not batch:
            break
        text = json_bytes(batch)[1:-1]
        await response.write(text if first else b"," + text)
        first = False
    await response.write(b"]}}")
    await response.write_eof()
    return response


# -- running it ----------------------------------------------------------------------------------------------------


async def serve(
    catalogue: Catalogue, host: str, port: int, *, provider: str | None = None, psi: Sequence[StepRoutes] = ()
) -> None:
    """Serve the demo upstream on ``host:port`` until cancelled (``port`` 0: a free port, printed)."""
    runner = web.AppRunner(make_app(catalogue, provider=provider, psi=psi), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
        await site.start()
        for address in runner.addresses:
            if isinstance(address, tuple):
                print(f"demo services listening on http://{address[0]}:{address[1]}", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _load_catalogue(path: Path | None) -> Catalogue:
    from demo import demo_config_path

    config = load_config(path if path is not None else demo_config_path())
    if config.catalogue is None:
        raise SystemExit(f"{path}: the consortium file has no catalogue to serve")
    return config.catalogue


def main(argv: list[str] | None = None) -> None:
    """``python -m demo.services --port P [--host H] [--provider ORG] [--catalogue FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m demo.services",
        description="Serve the demo's fictional upstream services (every API of a catalogue) over HTTP.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on (0: a free one, printed)")
    parser.add_argument("--provider", default=None, help="serve only this org's APIs (default: all)")
    parser.add_argument(
        "--catalogue",
        type=Path,
        default=None,
        help="a consortium file whose catalogue to serve (default: the packaged demo consortium)",
    )
    args = parser.parse_args(argv)
    from chain.errors import MalformedError

    try:
        catalogue = _load_catalogue(args.catalogue)
        make_app(catalogue, provider=args.provider)  # fail early, before the loop starts
    except (MalformedError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve(catalogue, args.host, args.port, provider=args.provider))
