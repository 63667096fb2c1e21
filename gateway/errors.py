"""The root of the errors of :mod:`gateway`. HTTP statuses are chosen only in :mod:`gateway.server`."""

from __future__ import annotations


class GatewayError(Exception):
    """Root of the errors of :mod:`gateway`."""
