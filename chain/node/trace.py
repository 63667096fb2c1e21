"""A node's timeline of consensus events, for finding where a block's time goes (``bench.qbft_timeline``).

Off unless the environment names it (``CONSORTIUM_NODE_TRACE=1`` in the node process's environment): then each
event is one JSON line on the node's log (``chain.jsonlog``), logger ``consortium.node.trace``, message ``trace``,
with ``event``, ``t`` (the wall clock in seconds, to the microsecond: comparable between the processes of one
machine) and the event's fields. Off, an event costs one check of a flag.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

log = logging.getLogger("consortium.node.trace")

#: The environment variable that turns the timeline on.
ENV = "CONSORTIUM_NODE_TRACE"

enabled = os.environ.get(ENV, "") not in ("", "0")


def configure() -> None:
    """Let trace events through the node's JSON log (called where the node configures its logging)."""
    if enabled:
        log.setLevel(logging.DEBUG)


def event(name: str, **fields: Any) -> None:
    """Log one event of the timeline, if the timeline is on."""
    if enabled:
        log.debug("trace", extra={"fields": {"event": name, "t": round(time.time(), 6), **fields}})
