"""An nginx configuration for the ``auth_request`` mode: nginx terminates mutual TLS and serves the firm's
service; each request first goes to the gateway's ``/auth`` endpoint, which authenticates the caller from the
client certificate nginx passes on, checks the grant, records the call, and answers 204 or 401/403.

nginx asks for a client certificate without checking it (``ssl_verify_client optional_no_ca``) so that every
verdict, with its reason, comes from the gateway: nginx's own check would turn an unknown or expired
certificate into a bare 400 page. The reason and the event id travel back in response headers
(``auth_request_set``), and nginx's named locations turn a 401 or 403 into the same JSON a gateway in proxy mode
answers. nginx gives an auth subrequest no body, so in this mode the request digest covers method and URI. The
service's own answer headers of those names are hidden (``proxy_hide_header``): only the gateway's reach the
caller, so a service cannot add a second event id or forge a denial reason.

With :class:`Tlcp` the server also speaks TLCP (GB/T 38636) through Tongsuo's NTLS module (``enable_ntls on``,
``ssl_sign_certificate`` and ``ssl_sign_certificate_key``, ``ssl_enc_certificate`` and ``ssl_enc_certificate_key``,
as Tengine's ``modules/ngx_openssl_ntls`` documents them), and passes the caller's SM2 certificate to ``/auth`` in
the same header, where :mod:`network.sm2callers` checks it. Debian's nginx does not know these directives: that
configuration is for a Tongsuo-built nginx or Tengine, and is rendered here, never run (``docs/national-suite.md``).

:func:`render` is what ``consortium gateway nginx-config`` prints; the tests start a real nginx with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.headers import (
    CALLER_ORG_HEADER,
    CLIENT_CERT_HEADER,
    EVENT_HEADER,
    GATEWAY_HEADER,
    ORIGIN_HEADER,
    ORIGINAL_METHOD_HEADER,
    ORIGINAL_URI_HEADER,
    PURPOSE_HEADER,
    REASON_HEADER,
    TRACE_HEADER,
)


@dataclass(frozen=True, slots=True)
class Tlcp:
    """The SM2 certificates of a TLCP (GB/T 38636) terminator, Tongsuo's NTLS: the signing certificate and key, and
    the encryption certificate and key (TLCP's two server certificates)."""

    sign_cert: Path
    sign_key: Path
    enc_cert: Path
    enc_key: Path


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
    tlcp: Tlcp | None = None  # also TLCP, with Tongsuo's NTLS (a Tongsuo-built nginx or Tengine only)


_DENIAL = (
    '{"error":"$consortium_error","reason":"$consortium_reason",'
    '"detail":"refused by the gateway","event_id":"$consortium_event"}'
)


#: The gateway's answer headers nginx copies from the auth subrequest's response (``auth_request_set``), each
#: into its variable, and the ones of them it adds to every answer to the caller (``add_header``).
_FROM_AUTH: tuple[tuple[str, str], ...] = (
    (EVENT_HEADER, "consortium_event"),
    (REASON_HEADER, "consortium_reason"),
    (TRACE_HEADER, "consortium_trace"),
    (GATEWAY_HEADER, "consortium_gateway"),
    (ORIGIN_HEADER, "consortium_origin"),
    (CALLER_ORG_HEADER, "consortium_caller"),
)
_TO_CALLER: tuple[str, ...] = (EVENT_HEADER, ORIGIN_HEADER, GATEWAY_HEADER, REASON_HEADER, TRACE_HEADER)


def _upstream_variable(header: str) -> str:
    """nginx's variable of an upstream response header: ``$upstream_http_`` and the name lower-cased, each dash
    an underscore."""
    return "$upstream_http_" + header.lower().replace("-", "_")


def _ntls(tlcp: Tlcp | None) -> str:
    """The directives of Tongsuo's NTLS module (``enable_ntls``, the signing and encryption certificates and keys),
    or nothing."""
    if tlcp is None:
        return ""
    return (
        "        enable_ntls on;\n"
        f"        ssl_sign_certificate {tlcp.sign_cert};\n"
        f"        ssl_sign_certificate_key {tlcp.sign_key};\n"
        f"        ssl_enc_certificate {tlcp.enc_cert};\n"
        f"        ssl_enc_certificate_key {tlcp.enc_key};\n"
    )


def render(site: NginxSite) -> str:
    r = site.runtime_dir
    password = f"        ssl_password_file {site.password_file};\n" if site.password_file else ""
    variable = dict(_FROM_AUTH)
    headers = "\n".join(f"            add_header {name} ${variable[name]} always;" for name in _TO_CALLER)
    hidden = "\n".join(f"            proxy_hide_header {name};" for name in _TO_CALLER)
    from_auth = "\n".join(
        f"            auth_request_set ${var} {_upstream_variable(name)};" for name, var in _FROM_AUTH
    )
    head = "# nginx in front of a firm's shared service; the consortium gateway decides every call (auth_request).\n"
    if site.tlcp is not None:
        head += (
            "# TLCP (GB/T 38636) beside TLS: Tongsuo's NTLS directives, for a Tongsuo-built nginx or Tengine\n"
            "# only; the caller's SM2 signing certificate goes to the gateway in the header of a TLS client's.\n"
        )
    return f"""{head}worker_processes {site.workers};
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
{password}{_ntls(site.tlcp)}        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_verify_client optional_no_ca;
        keepalive_requests 100000;
        location = /_consortium_auth {{
            internal;
            proxy_pass http://consortium_gateway/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header {ORIGINAL_METHOD_HEADER} $request_method;
            proxy_set_header {ORIGINAL_URI_HEADER} $request_uri;
            proxy_set_header {CLIENT_CERT_HEADER} $ssl_client_escaped_cert;
        }}
        location / {{
            auth_request /_consortium_auth;
{from_auth}
{headers}
            error_page 401 = @unauthorized;
            error_page 403 = @forbidden;
            proxy_pass http://firm_service;
{hidden}
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header {TRACE_HEADER} ${variable[TRACE_HEADER]};
            proxy_set_header {EVENT_HEADER} ${variable[EVENT_HEADER]};
            proxy_set_header {CALLER_ORG_HEADER} ${variable[CALLER_ORG_HEADER]};
            proxy_set_header {PURPOSE_HEADER} "";
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
