"""The ports ``consortium up`` plans (``network.portplan``) and the check that stops it before anything starts
when one is taken, without a socket: the probe of whether a port is free is a set of taken ports here (the real
one, a bind, is tested in tests/integration/network/test_alarm_endpoint_tls.py)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from network.alarms.server import PORT_OFFSET
from network.errors import NetworkError
from network.portplan import PlannedPort, PortTakenError, check_free, up_plan
from network.trust import witness_ports

SINGLE = [("chain node", 8545, None)]
NETWORK = [("node acme", 8545, 8595), ("node globex", 8576, 8596)]


def taken(*ports: int, host: str | None = None) -> Callable[[str, int], bool]:
    """A probe: every port free but ``ports`` (on ``host`` only, if given); it records what it was asked."""
    asked: list[tuple[str, int]] = []

    def is_free(h: str, p: int) -> bool:
        asked.append((h, p))
        return not (p in ports and (host is None or h == host))

    is_free.asked = asked  # type: ignore[attr-defined]
    return is_free


def demo_plan(**kwargs: object) -> list[PlannedPort]:
    args: dict[str, object] = {
        "nodes": SINGLE,
        "witnesses": ["acme", "beta", "reg"],
        "members": 3,
        "explorer_port": 8000,
    }
    args.update(kwargs)
    return up_plan(8545, **args)  # type: ignore[arg-type]


def test_the_plan_is_ups_layout() -> None:
    plan = {p.port: (p.component, p.host) for p in demo_plan()}
    assert plan[8545] == ("chain node", "127.0.0.1")
    assert plan[8546] == ("notary", "127.0.0.1")
    assert plan[8547] == ("demo services", "127.0.0.1")
    assert plan[8545 + PORT_OFFSET] == ("alarm endpoint", "127.0.0.1")
    assert [plan[p][0] for p in witness_ports(8545, 3)] == ["witness acme", "witness beta", "witness reg"]
    assert [plan[p][0] for p in (8565, 8566, 8567)] == [f"gateway {i} of at most 3" for i in (1, 2, 3)]
    assert [plan[p][0] for p in (8585, 8586, 8587)] == [f"gateway {i} of at most 3 (admin)" for i in (1, 2, 3)]
    assert plan[8000] == ("explorer", "127.0.0.1")
    assert len(plan) == 1 + 3 + 3 + 6 + 1  # the node; notary, demo, alarms; witnesses; gateways; the explorer
    network = {p.port: p.component for p in demo_plan(nodes=NETWORK)}
    assert network[8545] == "node acme (JSON-RPC)" and network[8595] == "node acme (peers)"
    assert network[8576] == "node globex (JSON-RPC)" and network[8596] == "node globex (peers)"
    wide = {p.port: p.host for p in demo_plan(alarms_host="0.0.0.0")}
    assert wide[8548] == "0.0.0.0" and wide[8546] == "127.0.0.1"


def test_all_free_passes_and_every_port_is_asked_on_its_address() -> None:
    probe = taken()
    plan = demo_plan(alarms_host="10.0.0.5")
    check_free(plan, probe)
    assert probe.asked == [(p.host, p.port) for p in plan]  # type: ignore[attr-defined]
    assert ("10.0.0.5", 8548) in probe.asked  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("port", "component"),
    [
        (8545, "chain node"),
        (8546, "notary"),
        (8547, "demo services"),
        (8548, "alarm endpoint"),
        (8552, "witness beta"),
        (8566, "gateway 2 of at most 3"),
        (8587, "gateway 3 of at most 3 (admin)"),
        (8000, "explorer"),
    ],
)
def test_a_taken_port_is_one_line_naming_it_and_its_component(port: int, component: str) -> None:
    with pytest.raises(PortTakenError) as raised:
        check_free(demo_plan(), taken(port))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"port {port} on 127.0.0.1, planned for the {component}, is already in use")
    assert "nothing was started" in message


def test_the_first_taken_port_is_the_one_said() -> None:
    with pytest.raises(PortTakenError, match=r"port 8546 .* notary"):
        check_free(demo_plan(), taken(8546, 8000))


def test_the_alarm_endpoint_is_checked_where_it_will_listen() -> None:
    check_free(demo_plan(alarms_host="10.0.0.5"), taken(8548, host="127.0.0.1"))  # taken on loopback only
    with pytest.raises(PortTakenError, match=re.escape("port 8548 on 10.0.0.5, planned for the alarm endpoint")):
        check_free(demo_plan(alarms_host="10.0.0.5"), taken(8548, host="10.0.0.5"))


def test_a_port_given_to_two_components_or_no_port_at_all_is_refused_before_any_probe() -> None:
    probe = taken()
    with pytest.raises(PortTakenError, match="port 8548 is planned for both the alarm endpoint and the explorer"):
        check_free(demo_plan(explorer_port=8548), probe)
    assert probe.asked == []  # type: ignore[attr-defined]
    with pytest.raises(PortTakenError, match="port 65536 planned for the demo services is not a TCP port"):
        check_free(up_plan(65534, nodes=[("chain node", 65534, None)], witnesses=[], members=0, explorer_port=1), probe)
    assert issubclass(PortTakenError, NetworkError)
