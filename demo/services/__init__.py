"""The demo's upstream services: every API of a catalogue, answering with fictional, deterministic data.

One aiohttp application serves each API of a :class:`~network.config.Catalogue` (or only one provider's) at its
route and method, the way a member firm's real market-data, news, research or model service would sit behind its
gateway. Every firm, security, person and number is made up.

Determinism: the answer depends only on the request. A :class:`random.Random` is seeded from the SHA-256 of the
method, the route, the query (parameters sorted) and the body, so the same request always gets byte-identical
bytes; nothing in a payload reads the clock. The caller org the gateway names in ``Consortium-Caller-Org`` is
echoed in the metadata (``meta.caller_org``) and is not part of the seed.

Every answer is JSON ``{"meta": {...}, "data": ...}``; ``meta`` names the API, unit, center, provider, asset,
caller org, a request id (the first 16 hex digits of the seed) and the ``as_of`` date, plus ``count`` when
``data`` is a list. Parameters, where natural:

- ``symbol`` (or ``symbols=a,b,c``): any code of 1..32 characters ``[A-Za-z0-9._-]``; the demo's own fictional
  securities (e.g. ``600001.SH``) have names and industries, any other code gets made-up data of its own;
- ``limit``: number of rows, 1..500 (the tick and bar routes allow up to 1,000,000, streamed in chunks with
  chunked transfer encoding above 1,000 rows);
- ``date``: ``YYYY-MM-DD``, default 2025-06-30;
- POST and PUT bodies: a JSON object of at most 64 KiB (an empty body means ``{}``).

Errors are JSON ``{"error": ..., "detail": ...}``: 400 for a bad parameter, invalid JSON or a body over 64 KiB,
404 for an unknown route, 405 (with ``Allow``) for a route served with other methods. ``GET /healthz`` answers
``{"status": "ok", ...}``. Answers of small requests are kept in an LRU cache, so a benchmark that repeats a
request measures the gateway rather than this generator.

Modules: :mod:`~demo.services.universe` (the fictional securities, names and trading calendar),
:mod:`~demo.services.request` (``Req``, the errors, the JSON answers), one module of generators per service center
of the catalogue (:mod:`~demo.services.public_business`, :mod:`~demo.services.investment_research`,
:mod:`~demo.services.institutional_business`) and :mod:`~demo.services.app` (the table of generators, the cache,
streaming, ``make_app``, ``serve``, ``main``).

Run: ``python -m demo.services --port 8081 [--host 127.0.0.1] [--provider ORG] [--catalogue FILE]``
(``FILE``: a consortium file whose catalogue to serve; default: the packaged demo consortium). With ``--port 0``
the chosen port is printed.
"""

from __future__ import annotations

from demo.services.app import MAX_BODY_BYTES, MAX_STREAM_LIMIT, STREAM_THRESHOLD, main, make_app, serve
from demo.services.request import MAX_LIMIT
from demo.services.universe import UNIVERSE

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_LIMIT",
    "MAX_STREAM_LIMIT",
    "STREAM_THRESHOLD",
    "UNIVERSE",
    "main",
    "make_app",
    "serve",
]
