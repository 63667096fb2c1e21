"""The storage servers the backends' tests rely on: PostgreSQL keeps a committed row across ``kill -9``, and the
S3 server refuses a second conditional create of the same key, as the object-store backend assumes; a server
whose port another program took first starts on another one."""

from __future__ import annotations

import errno
import socket
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.support.servers import PortTakenError, start_on_a_free_port


def test_postgres_keeps_a_committed_row_across_kill_9(postgres: Any) -> None:
    url = postgres.create_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (v INTEGER)")
        conn.execute("INSERT INTO t VALUES (42)")
    postgres.kill()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    postgres.start()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT v FROM t").fetchall() == [(42,)]


def test_s3_honours_if_none_match(s3: Any) -> None:
    client = s3.client()
    bucket = s3.create_bucket()
    client.put_object(Bucket=bucket, Key="tile/0/000", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=bucket, Key="tile/0/000", Body=b"second", IfNoneMatch="*")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert client.get_object(Bucket=bucket, Key="tile/0/000")["Body"].read() == b"first"


class Listener:
    """The smallest server on 127.0.0.1:``port``: a listening socket, ``PortTakenError`` when the port is bound."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.tried: list[int] = []
        self.socket: socket.socket | None = None

    def start(self) -> None:
        self.tried.append(self.port)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", self.port))
        except OSError as exc:
            s.close()
            if exc.errno == errno.EADDRINUSE:
                raise PortTakenError(f"port {self.port}: {exc}") from exc
            raise
        s.listen()
        self.socket = s


def test_a_server_whose_port_was_taken_starts_on_another_and_gives_up_after_three_tries() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Listener(port)
        start_on_a_free_port(server)
        assert server.socket is not None
        try:
            assert server.tried[0] == port and server.port != port and len(server.tried) == 2
            assert server.socket.getsockname()[1] == server.port
        finally:
            server.socket.close()

        class AlwaysTaken(Listener):
            def start(self) -> None:
                self.tried.append(self.port)
                raise PortTakenError(f"port {self.port} taken")

        hopeless = AlwaysTaken(port)
        with pytest.raises(PortTakenError):
            start_on_a_free_port(hopeless)
        assert len(hopeless.tried) == 3
