"""The member SDK: call shared services through a provider's gateway over mutual TLS, fetch each call's receipt
and evidence bundle from the notary, and verify the bundle offline. See :mod:`sdk.client`."""

from sdk.client import (
    CA_BUNDLE_NAME,
    AnswerCutOffError,
    CallDeniedError,
    CallResult,
    ConfigurationError,
    EvidenceNotReadyError,
    MemberClient,
    NotaryResponseError,
    NotReceiptedError,
    SdkError,
    TransportError,
    VerificationFailedError,
    VerificationReport,
    ca_bundle_pem,
    new_traceparent,
    parse_receipt,
    write_ca_bundle,
)

__all__ = [
    "CA_BUNDLE_NAME",
    "AnswerCutOffError",
    "CallDeniedError",
    "CallResult",
    "ConfigurationError",
    "EvidenceNotReadyError",
    "MemberClient",
    "NotReceiptedError",
    "NotaryResponseError",
    "SdkError",
    "TransportError",
    "VerificationFailedError",
    "VerificationReport",
    "ca_bundle_pem",
    "new_traceparent",
    "parse_receipt",
    "write_ca_bundle",
]
