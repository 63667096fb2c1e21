"""``gateway.nginx.render``: in front of the firm's service, nginx hides the service's own answer headers of the
gateway's names, so only the gateway's event id, log origin, gateway id, denial reason and trace reach a caller
(a service cannot add a second event id or forge a denial). Rendered in process; a real nginx runs the
configuration in ``tests/e2e/test_make_run.py``."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.headers import EVENT_HEADER, GATEWAY_HEADER, ORIGIN_HEADER, REASON_HEADER, TRACE_HEADER
from gateway.nginx import NginxSite, render


def site(tmp_path: Path) -> NginxSite:
    return NginxSite(18080, 18081, "127.0.0.1:18082", tmp_path / "cert.pem", tmp_path / "key.pem", None, tmp_path)


def test_the_services_headers_of_the_gateways_names_are_hidden_where_the_service_answers(tmp_path: Path) -> None:
    config = render(site(tmp_path))
    service = re.search(r"location / \{(.*?)\n        \}", config, re.S)
    assert service is not None
    hidden = re.findall(r"proxy_hide_header (\S+);", service.group(1))
    assert hidden == [EVENT_HEADER, ORIGIN_HEADER, GATEWAY_HEADER, REASON_HEADER, TRACE_HEADER]
    added = re.findall(r"add_header (\S+) \$\w+ always;", service.group(1))
    assert sorted(added) == sorted(hidden)  # each hidden name is the gateway's to add
