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
def explorer(tmp_path: Path) -> Iterator[SimpleNamespace]:
    calls, chain = CallIndex(tmp_path / "calls.db"), ChainIndex(tmp_path / "chain.db")
    yield SimpleNamespace(auth=StandInLogins(), recorder=None, limits=Limits(), calls=calls, chain=chain, trust=None)
    calls.close()
    chain.close()


@pytest.fixture
def client(explorer: SimpleNamespace) -> Iterator[TestClient]:
    with TestClient(create_app(cast(Explorer, explorer))) as client:
        yield client


def test_a_logged_in_person_reads_the_figures(client: TestClient) -> None:
    """An empty index: no entry, no block (-1)."""
    answer = client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (answer.status_code, answer.json()) == (200, {"ok": True, "indexed_size": 0, "chain_indexed": -1})


def test_with_a_view_of_the_trust_directory_it_says_the_block_logins_are_decided_at(
    explorer: SimpleNamespace, client: TestClient
) -> None:
    """The head of the logins' trust view: a test (or an operator) waits for it to pass a revoking block, after
    which every login of the revoked certificate is refused (``tests/integration/cli/test_member_join.py``)."""
    explorer.trust = SimpleNamespace(head=41)
    answer = client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.json() == {"ok": True, "indexed_size": 0, "chain_indexed": -1, "trust_head": 41}
    assert client.get("/healthz").json() == {"ok": True}  # not to anyone else


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer forged"}, {"Authorization": "Basic x"}], ids=["none", "forged", "basic"]
)
def test_anyone_else_learns_liveness_only(client: TestClient, headers: dict[str, str]) -> None:
    answer = client.get("/healthz", headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"ok": True})
