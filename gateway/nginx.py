"""An nginx configuration for the ``auth_request`` mode: nginx terminates mutual TLS and serves the firm's
service; each request first goes to the gateway's ``/auth`` endpoint, which authenticates the caller from the
client certificate nginx passes on, checks the grant, records the call, and answers 204 or 401/403.

nginx asks for a client certificate without checking it (``ssl_verify_client optional_no_ca``) so that every
verdict, with its reason, comes from the gateway: nginx's own check would turn an unknown or expired
certificate into a bare 400 page. The reason and the event id travel back in response headers
(``auth_request_set``), and nginx's named locations turn a 401 or 403 into the same JSON a gateway in proxy mode
answers. nginx gives an auth subrequest no body, so in this mode the request digest covers method and URI.

:func:`render` is what ``consortium gateway nginx-config`` prints; the tests start a real nginx with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class NginxSite:
    listen_port: int
    auth_port: int  # the gateway in auth mode, on loopback
    upstream: str  # host:port of the firm's service
    cert_file: Path
    key_file: Path
    password_file: Path | None  # passphrase of an encrypted key
    runtime_dir: Path  # pid file, error log and temporary files
    listen_host: str = "127.0.0.1"
    workers: str = "1"


_DENIAL = (
    '{"error":"$consortium_error","reason":"$consortium_reason",'
    '"detail":"refused by the gateway","event_id":"$consortium_event"}'
)


def render(site: NginxSite) -> str:
    r = site.runtime_dir
    password = f"        ssl_password_file {site.password_file};\n" if site.password_file else ""
    headers = "\n".join(
        f"            add_header {name} ${var} always;"
        for name, var in (
            ("Consortium-Event-Id", "consortium_event"),
            ("Consortium-Log-Origin", "consortium_origin"),
            ("Consortium-Gateway", "consortium_gateway"),
            ("Consortium-Denial-Reason", "consortium_reason"),
            ("traceparent", "consortium_trace"),
        )
    )
    return f"""# nginx in front of a firm's shared service; the consortium gateway decides every call (auth_request).
worker_processes {site.workers};
pid {r}/nginx.pid;
error_log {r}/error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {r}/client_body;
    proxy_temp_path {r}/proxy;
    fastcgi_temp_path {r}/fastcgi;
    uwsgi_temp_path {r}/uwsgi;
    scgi_temp_path {r}/scgi;
    upstream consortium_gateway {{ server 127.0.0.1:{site.auth_port}; keepalive 64; }}
    upstream firm_service {{ server {site.upstream}; keepalive 64; }}
    server {{
        listen {site.listen_host}:{site.listen_port} ssl;
        ssl_certificate {site.cert_file};
        ssl_certificate_key {site.key_file};
{password}        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_verify_client optional_no_ca;
        keepalive_requests 100000;
        location = /_consortium_auth {{
            internal;
            proxy_pass http://consortium_gateway/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
        }}
        location / {{
            auth_request /_consortium_auth;
            auth_request_set $consortium_event $upstream_http_consortium_event_id;
            auth_request_set $consortium_reason $upstream_http_consortium_denial_reason;
            auth_request_set $consortium_trace $upstream_http_traceparent;
            auth_request_set $consortium_gateway $upstream_http_consortium_gateway;
            auth_request_set $consortium_origin $upstream_http_consortium_log_origin;
            auth_request_set $consortium_caller $upstream_http_consortium_caller_org;
{headers}
            error_page 401 = @unauthorized;
            error_page 403 = @forbidden;
            proxy_pass http://firm_service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header traceparent $consortium_trace;
            proxy_set_header Consortium-Event-Id $consortium_event;
            proxy_set_header Consortium-Caller-Org $consortium_caller;
            proxy_set_header Consortium-Purpose "";
        }}
        location @unauthorized {{
            set $consortium_error unauthorized;
            default_type application/json;
{headers}
            return 401 '{_DENIAL}';
        }}
        location @forbidden {{
            set $consortium_error forbidden;
            default_type application/json;
{headers}
            return 403 '{_DENIAL}';
        }}
    }}
}}
"""
