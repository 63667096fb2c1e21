"""The ``Consortium-*`` header protocol of a gateway, as the gateway's public face: the names are defined once in
:mod:`notary.headers` (a layer below, so that the owner's PSI service in :mod:`privacy` reads the same names) and
re-exported here for the gateway, the SDK and the demo (``docs/gateway.md``, ``docs/architecture.md``).
"""

from __future__ import annotations

from notary.headers import (
    CALLER_ORG_HEADER,
    CLIENT_CERT_HEADER,
    EVENT_HEADER,
    GATEWAY_HEADER,
    ORIGIN_HEADER,
    ORIGINAL_METHOD_HEADER,
    ORIGINAL_URI_HEADER,
    PSI_JOB_HEADER,
    PURPOSE_HEADER,
    REASON_HEADER,
    TRACE_HEADER,
)

__all__ = [
    "CALLER_ORG_HEADER",
    "CLIENT_CERT_HEADER",
    "EVENT_HEADER",
    "GATEWAY_HEADER",
    "ORIGINAL_METHOD_HEADER",
    "ORIGINAL_URI_HEADER",
    "ORIGIN_HEADER",
    "PSI_JOB_HEADER",
    "PURPOSE_HEADER",
    "REASON_HEADER",
    "TRACE_HEADER",
]
