"""The storage servers the backends' tests rely on: PostgreSQL keeps a committed row across ``kill -9``, and the
S3 server refuses a second conditional create of the same key, as the object-store backend assumes."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError


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
