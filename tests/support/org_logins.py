"""Logins for explorer API tests in process: the bearer token is the org of the person asking."""

from __future__ import annotations

from network.logins import LoginError, Person

#: The regulator's org in these tests; its person has the ``regulator`` role, everyone else ``compliance``.
REGULATOR = "csrc"


def person(org: str) -> Person:
    """A person of ``org``: the regulator's a regulator, any other a compliance officer."""
    role = "regulator" if org == REGULATOR else "compliance"
    return Person(org=org, name="p", role=role, identity="ab" * 32, display_name=f"p ({org})", expires_ms=0)


class OrgTokenLogins:
    """The token is the person's org, one of ``orgs``; any other token (an outsider's) has no credentials."""

    def __init__(self, *orgs: str) -> None:
        self.orgs = frozenset(orgs)

    def authenticate(self, authorization: str | None) -> Person:
        org = (authorization or "").removeprefix("Bearer ")
        if org not in self.orgs:
            raise LoginError("no_credentials", "no credentials")
        return person(org)
