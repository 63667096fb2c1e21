"""W3C Trace Context (Recommendation, §3.2): the ``traceparent`` header every call carries from the caller
through the gateway to the upstream service, and that the call's event records.

Version ``00``: ``00-<trace id, 32 hex>-<parent id, 16 hex>-<flags, 2 hex>``, lower case, nothing after it; a
trace id or parent id of all zeros is invalid (§3.2.2.3, §3.2.2.4). Other versions are passed over as the
recommendation asks of a version-00 participant: a recipient starts a new trace (:func:`continue_trace`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Final

HEADER: Final = "traceparent"
#: A version-00 ``traceparent`` (the all-zero ids are refused by :func:`parse_traceparent`, not by the pattern).
PATTERN: Final = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z")
_ANY_VERSION: Final = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\Z")
_ZERO_TRACE: Final = "0" * 32
_ZERO_PARENT: Final = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str
    parent_id: str
    flags: str

    def to_text(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"


def invalid_reason(value: str) -> str | None:
    """Why ``value`` is not a valid version-00 ``traceparent``, or None if it is."""
    match = PATTERN.match(value)
    if match is None:
        return "must be a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>, lower case"
    if match.group(1) == _ZERO_TRACE or match.group(2) == _ZERO_PARENT:
        return "W3C traceparent with an all-zero trace id or parent id is invalid"
    return None


def parse_traceparent(value: str) -> TraceContext | None:
    """The trace context in ``value``, or None if it is not a valid version-00 ``traceparent``."""
    if invalid_reason(value) is not None:
        return None
    trace_id, parent_id, flags = value[3:35], value[36:52], value[53:55]
    return TraceContext(trace_id, parent_id, flags)


def is_well_formed(value: str) -> bool:
    """Whether ``value`` has the shape of a ``traceparent`` of any version (what a caller may send on)."""
    return _ANY_VERSION.match(value) is not None


def new_traceparent() -> str:
    """A fresh trace: a new trace id and parent id, sampled (flags ``01``)."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def continue_trace(incoming: str | None) -> tuple[str, str]:
    """(our ``traceparent``, our span id) for a hop that received ``incoming``: the caller's trace with a new
    span id of ours, or a new trace if the caller sent none or an invalid one."""
    span = secrets.token_hex(8)
    context = parse_traceparent(incoming) if incoming else None
    if context is not None:
        return TraceContext(context.trace_id, span, context.flags).to_text(), span
    return f"00-{secrets.token_hex(16)}-{span}-01", span
