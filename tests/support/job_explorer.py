"""The explorer's API in process over a real SQLite call index holding given log entries, for the tests of the PSI
job page (``explorer.api.jobs``): FastAPI's test client, a login that takes the token as the person's org (any
other token is refused as a forged one would be), and the grants a chain snapshot would hold."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from fastapi import FastAPI
from fastapi.testclient import TestClient

from chain.contracts.grants import GrantInfo
from explorer.api import Explorer, Limits, create_app
from explorer.calls import CallIndex
from explorer.keys import ConsortiumKeysJSON
from explorer.state import Snapshot
from network.logins import LoginError, Person
from notary.event import QueryVisibility
from notary.storage.base import CheckpointJSON

REGULATOR = "csrc"


def person(org: str) -> Person:
    role = "regulator" if org == REGULATOR else "compliance"
    return Person(org=org, name="p", role=role, identity="ab" * 32, display_name=f"p ({org})", expires_ms=0)


class OrgTokenLogins:
    """The token is the person's org, for the orgs given; anything else is refused (401)."""

    def __init__(self, orgs: Iterable[str]) -> None:
        self.orgs = frozenset(orgs)

    def authenticate(self, authorization: str | None) -> Person:
        org = (authorization or "").removeprefix("Bearer ")
        if org not in self.orgs:
            raise LoginError("bad_token", "the token does not verify")
        return person(org)


class NoShreds:
    def lookup(self, provider: str, day: str) -> None:
        return None


@contextmanager
def job_explorer_app(
    directory: Path,
    entries: Sequence[bytes],
    orgs: Iterable[str],
    grants: Sequence[GrantInfo] = (),
    checkpoints: Sequence[CheckpointJSON] = (),
    notary: object | None = None,
    keys: Callable[..., ConsortiumKeysJSON] | None = None,
) -> Iterator[FastAPI]:
    """The explorer's app whose index holds ``entries`` (leaves 0, 1, ...) and ``checkpoints``; with ``notary`` (its
    ``evidence(event_id)``) and ``keys`` (``Explorer.keys``), a call's evidence and the keys to check it against."""
    index = CallIndex(directory / "calls.db")
    index.add_entries(0, list(entries))
    if checkpoints:
        index.put_checkpoints(checkpoints)
    stand_in = SimpleNamespace(
        auth=OrgTokenLogins([*orgs, REGULATOR]), recorder=None, limits=Limits(), directory=directory, calls=index,
        shreds=NoShreds(), visibility=QueryVisibility(frozenset({REGULATOR})),
        state=SimpleNamespace(snapshot=Snapshot(block=7, block_time=1_795_000_000, grants=tuple(grants))),
        notary=notary, keys=keys,
    )  # fmt: skip
    try:
        yield create_app(cast(Explorer, stand_in))
    finally:
        index.close()


@contextmanager
def job_explorer(
    directory: Path,
    entries: Sequence[bytes],
    orgs: Iterable[str],
    grants: Sequence[GrantInfo] = (),
    checkpoints: Sequence[CheckpointJSON] = (),
) -> Iterator[TestClient]:
    """A test client of the explorer whose index holds ``entries`` (leaves 0, 1, ...) and ``checkpoints``."""
    with job_explorer_app(directory, entries, orgs, grants, checkpoints) as app, TestClient(app) as client:
        yield client


def get(client: TestClient, path: str, org: str | None) -> tuple[int, bytes]:
    headers = {} if org is None else {"Authorization": f"Bearer {org}"}
    answer = client.get(path, headers=headers)
    return answer.status_code, answer.content
