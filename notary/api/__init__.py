"""The notary's HTTP API: gateways submit signed batches; members and witnesses read the log (C2SP tlog-tiles)
and proofs, each event only its parties and regulators (``notary.readauth``; open when built without it).

Write (``write``): ``POST /v1/batches`` with headers ``Consortium-Gateway: <org>/<name>`` and
``Consortium-Signature: <base64 Ed25519 signature over "consortium-ledger/batch/v1\\n" ‖ body>``.
Tiles (``tiles``): ``/checkpoint``, ``/tile/...`` and ``/tile/entries/...`` exactly as C2SP tlog-tiles lays
them out. Reads (``reads``): JSON for receipts, entries, proofs, checkpoints, anchors, gaps, alarms and evidence,
each described by a model of ``schemas``. Operations (``operations``): ``/healthz`` and ``/metrics``. OpenAPI
at ``/openapi.json``. HTTP statuses are chosen in ``errors`` and nowhere else.

``create_app`` builds the app around a ``NotaryService``; ``run`` serves one with uvicorn.
"""

from notary.api.app import create_app, run

__all__ = ["create_app", "run"]
