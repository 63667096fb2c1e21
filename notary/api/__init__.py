"""The notary's HTTP API: gateways submit signed batches; anyone reads the log (C2SP tlog-tiles) and proofs.

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
