"""The ports ``consortium up --port N`` will listen on, and the check that every one is free before anything starts.

``up`` lays its components out from one port (README, "Running it"): the chain node on N (a network's nodes on
N, N+31… with their peer servers on N+50…), the notary on N+1, the demo services on N+2, the live alarms'
endpoint on N+3, the witnesses on N+6…, the gateways on N+20… with their admin endpoints on N+40…, the explorer
on its own port. :func:`up_plan` lists them, each with the component that will listen there; :func:`check_free`
stops at the first one taken (or given to two components) with one line naming the port and the component, so
``up`` fails before the chain starts rather than half way, with some components running and one refusing.

Which members provide an API, and so run a gateway, is read from the chain once it runs: the plan holds one
gateway port (and its admin port) per member, the most ``up`` may use. A port taken there stops ``up`` even when
fewer members provide one, the price of checking before anything starts.

A port is free when a socket can be bound to it with ``SO_REUSEADDR``, as the servers ``up`` starts bind theirs:
a port some process listens on (on that address or on every address) is taken; one a just-stopped ``up`` left
in TIME_WAIT is not. The probe is injected (:func:`check_free`'s ``is_free``), so the plan and the check are
tested without sockets; :func:`bind_free` is the real one.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from network.errors import NetworkError

LOOPBACK = "127.0.0.1"
#: Offsets from ``up --port N``: the notary, the demo services, the alarm endpoint, the first witness, the first
#: gateway and the first gateway's admin endpoint.
NOTARY_OFFSET = 1
DEMO_OFFSET = 2
ALARMS_OFFSET = 3
WITNESS_OFFSET = 6
GATEWAY_OFFSET = 20
GATEWAY_ADMIN_OFFSET = 40


class PortTakenError(NetworkError):
    """A port ``up`` plans to listen on is taken, given to two of its components, or not a port at all; the
    message is the one line ``up`` prints."""


@dataclass(frozen=True, slots=True)
class PlannedPort:
    port: int
    #: Who will listen there, as ``up`` announces it ("notary", "witness beta", "gateway 2 of 6 (admin)"...).
    component: str
    #: The address it will listen on.
    host: str = LOOPBACK


def up_plan(
    port: int,
    *,
    nodes: Sequence[tuple[str, int, int | None]],
    witnesses: Sequence[str],
    members: int,
    explorer_port: int,
    alarms_host: str = LOOPBACK,
) -> list[PlannedPort]:
    """Every port of ``up --port PORT``: ``nodes`` are (name, JSON-RPC port, peer port or None for a single node),
    ``witnesses`` the witness orgs in the policy's order, ``members`` the number of members (one gateway port
    each at most), ``explorer_port`` the explorer's, ``alarms_host`` where the alarm endpoint listens."""
    planned: list[PlannedPort] = []
    for name, rpc, peer in nodes:
        planned.append(PlannedPort(rpc, f"{name} (JSON-RPC)" if peer is not None else name))
        if peer is not None:
            planned.append(PlannedPort(peer, f"{name} (peers)"))
    planned.append(PlannedPort(port + NOTARY_OFFSET, "notary"))
    planned.append(PlannedPort(port + DEMO_OFFSET, "demo services"))
    planned.append(PlannedPort(port + ALARMS_OFFSET, "alarm endpoint", alarms_host))
    planned += [PlannedPort(port + WITNESS_OFFSET + i, f"witness {org}") for i, org in enumerate(witnesses)]
    for i in range(members):
        planned.append(PlannedPort(port + GATEWAY_OFFSET + i, f"gateway {i + 1} of at most {members}"))
        planned.append(PlannedPort(port + GATEWAY_ADMIN_OFFSET + i, f"gateway {i + 1} of at most {members} (admin)"))
    planned.append(PlannedPort(explorer_port, "explorer"))
    return planned


def check_free(planned: Sequence[PlannedPort], is_free: Callable[[str, int], bool]) -> None:
    """Raise :class:`PortTakenError` for the first port of ``planned`` that is out of range, planned twice, or
    not free by ``is_free(host, port)``; return if every one is free."""
    seen: dict[int, PlannedPort] = {}
    for p in planned:
        if not 1 <= p.port <= 65535:
            raise PortTakenError(f"port {p.port} planned for the {p.component} is not a TCP port: give a lower --port")
        if p.port in seen:
            raise PortTakenError(
                f"port {p.port} is planned for both the {seen[p.port].component} and the {p.component}: "
                "give another --port or --explorer-port"
            )
        seen[p.port] = p
    for p in planned:
        if not is_free(p.host, p.port):
            raise PortTakenError(
                f"port {p.port} on {p.host}, planned for the {p.component}, is already in use: stop what listens "
                "there or give another --port (nothing was started)"
            )


def bind_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (a bind with ``SO_REUSEADDR``, closed at once)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
