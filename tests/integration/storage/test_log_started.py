"""``consortium up`` checks the log's key against consortium.json only until the log has started, and asks the
storage backend whether it has: with ``--storage postgresql://… --object-store s3://…`` there is no
``notary/notary.db``, and the PostgreSQL database (the real server the storage tests start) is asked instead, so
a key rotated on chain (``notary rotate-key``) is not refused after a restart, while a fresh database still holds
the key to consortium.json's and a database that does not answer is named before anything starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chain.ids import OrgId
from network.identity import OrgPaths, encrypted_log_key, new_log_key
from network.logsetup import LogSetupError, check_log_keys
from notary.service import log_started
from notary.storage.postgres import ObjectStoreConfig, PostgresStore
from tests.unit.network.test_crypto_suite import PASS, consortium


def test_up_asks_postgresql_whether_the_log_started(
    tmp_path: Path, postgres: Any, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    url, bucket = postgres.create_database("started"), s3.create_bucket("started")
    object_store = f"s3://{bucket}?endpoint={s3.url}"
    description = consortium(tmp_path, "intl")
    # the key rewritten as `notary rotate-key` does: no longer the one consortium.json lists
    OrgPaths.of(tmp_path, OrgId("acme")).notary_key.write_bytes(encrypted_log_key(new_log_key("intl"), PASS))

    assert not log_started(tmp_path / "notary", url, object_store)  # a fresh database: no log in it
    with pytest.raises(LogSetupError, match=r"the notary key of acme: .* is not the key whose public key"):
        check_log_keys(tmp_path, description, PASS, storage=url, object_store=object_store)

    config = ObjectStoreConfig(bucket, s3.url, access_key=s3.access_key, secret_key=s3.secret_key, timeout_s=2)
    store = PostgresStore(url, config, connect_timeout=2)
    try:
        assert not store.holds_log()
        store.set_meta("vkey", "the key of the log's first start")  # what a notary's first start records
        assert store.holds_log()
    finally:
        store.close()
    assert log_started(tmp_path / "notary", url, object_store)
    assert not (tmp_path / "notary" / "notary.db").exists()  # nothing embedded was made by asking
    # the log started in PostgreSQL: the rotated key is the notary's to check on chain as it starts
    check_log_keys(tmp_path, description, PASS, storage=url, object_store=object_store)
    # without the storage options the embedded store is asked, and it holds no log: the strict check again
    with pytest.raises(LogSetupError, match="the notary key of acme"):
        check_log_keys(tmp_path, description, PASS)


def test_up_names_a_database_that_does_not_answer(tmp_path: Path, s3: Any) -> None:
    description = consortium(tmp_path, "intl")
    dead = "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1"
    with pytest.raises(LogSetupError, match=r"cannot tell whether the notary's log has started: .*"):
        check_log_keys(tmp_path, description, PASS, storage=dead, object_store=f"s3://b?endpoint={s3.url}")
