"""``GET /healthz`` of the explorer in process (FastAPI's test client, no socket), around a real call index and
chain index: anyone learns that the explorer answers, and only a logged-in person the figures (the log size
indexed says how many calls the consortium made; docs/confidentiality.md). The login is a stand-in of the
network's check, as in the other API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from fastapi.testclient import TestClient

from explorer.api import Explorer, Limits, create_app
from explorer.calls import CallIndex
from explorer.chainindex import ChainIndex
from network.logins import LoginError, Person

TOKEN = "good"


class StandInLogins:
    """Lets in the one token ``TOKEN``, as a compliance officer of ``alpha``."""

    def authenticate(self, authorization: str | None) -> Person:
        if not authorization:
            raise LoginError("no_credentials", "no credentials")
        if authorization != f"Bearer {TOKEN}":
            raise LoginError("invalid_token", "not a token of ours")
        return Person(org="alpha", name="p", role="compliance", identity="ab" * 32, display_name="p", expires_ms=0)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    calls, chain = CallIndex(tmp_path / "calls.db"), ChainIndex(tmp_path / "chain.db")
    stand_in = SimpleNamespace(auth=StandInLogins(), recorder=None, limits=Limits(), calls=calls, chain=chain)
    with TestClient(create_app(cast(Explorer, stand_in))) as client:
        yield client
    calls.close()
    chain.close()


def test_a_logged_in_person_reads_the_figures(client: TestClient) -> None:
    """An empty index: no entry, no block (-1)."""
    answer = client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (answer.status_code, answer.json()) == (200, {"ok": True, "indexed_size": 0, "chain_indexed": -1})


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer forged"}, {"Authorization": "Basic x"}], ids=["none", "forged", "basic"]
)
def test_anyone_else_learns_liveness_only(client: TestClient, headers: dict[str, str]) -> None:
    answer = client.get("/healthz", headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"ok": True})
