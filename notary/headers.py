"""The ``Consortium-*`` header protocol of a recorded call: what a caller sends to a gateway, what the gateway
answers, what it passes to the upstream service, and what nginx and the gateway tell each other in
``auth_request`` mode (``docs/gateway.md``). The ``traceparent`` header is W3C Trace Context
(:mod:`notary.tracecontext`).

Caller → gateway: ``Consortium-Purpose``, and on a PSI job's steps ``Consortium-Psi-Job``. Gateway → caller:
``Consortium-Event-Id``, ``Consortium-Log-Origin``, ``Consortium-Gateway``, and on a denial
``Consortium-Denial-Reason``. Gateway → upstream: ``Consortium-Event-Id`` and ``Consortium-Caller-Org``. nginx →
gateway in auth mode: the client certificate and the original request.

The names live here, beside the event whose fields they carry, so that every party to a call imports one
definition: the gateway (which re-exports them as :mod:`gateway.headers`, its public face), the SDK and the demo
above it, and the owner's PSI service (:mod:`privacy.service`), which sits beside the gateway's dependencies and
may not import the gateway.
"""

from __future__ import annotations

from typing import Final

from notary.tracecontext import HEADER as TRACE_HEADER

PURPOSE_HEADER: Final = "Consortium-Purpose"
EVENT_HEADER: Final = "Consortium-Event-Id"
ORIGIN_HEADER: Final = "Consortium-Log-Origin"
GATEWAY_HEADER: Final = "Consortium-Gateway"
REASON_HEADER: Final = "Consortium-Denial-Reason"
CALLER_ORG_HEADER: Final = "Consortium-Caller-Org"
#: Caller → gateway on a step of a PSI job: the job's tag (``privacy.asset.job_tag``); the gateway drops it before
#: forwarding.
PSI_JOB_HEADER: Final = "Consortium-Psi-Job"
CLIENT_CERT_HEADER: Final = "X-Client-Cert"
ORIGINAL_METHOD_HEADER: Final = "X-Original-Method"
ORIGINAL_URI_HEADER: Final = "X-Original-URI"

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
