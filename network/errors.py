"""The root of the errors of :mod:`network`: the consortium's configuration, identities, certificates, logins,
log setup and process supervision. Bad input raises :class:`chain.errors.MalformedError` as everywhere."""

from __future__ import annotations


class NetworkError(Exception):
    """Root of the errors of :mod:`network`."""
