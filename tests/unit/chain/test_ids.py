"""chain.ids: the bytes32 name codec and role sets, both ways."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.errors import MalformedError
from chain.ids import Role, bytes32_to_name, check_name, name_to_bytes32

names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,31}", fullmatch=True)


@given(names)
def test_name_round_trips_through_bytes32(name: str) -> None:
    raw = name_to_bytes32(name)
    assert len(raw) == 32
    assert bytes32_to_name(raw) == name


@given(names, names)
def test_distinct_names_encode_differently(a: str, b: str) -> None:
    assert (name_to_bytes32(a) == name_to_bytes32(b)) == (a == b)


@pytest.mark.parametrize(
    "bad", ["", "Upper", "-lead", "a" * 33, "sp ace", "nul\0", "ünïcode", "../etc", "a\nb", "semi;colon"]
)
def test_invalid_names_are_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(MalformedError, match="1-32 characters"):
        check_name(bad, "org id")


def test_empty_bytes32_decodes_to_empty_name() -> None:
    assert bytes32_to_name(b"\0" * 32) == ""


@pytest.mark.parametrize("raw", [b"\0" * 31, b"a\0b".ljust(32, b"\0"), b"\x01" * 33])
def test_bytes32_that_is_not_a_name_is_refused(raw: bytes) -> None:
    with pytest.raises(MalformedError):
        bytes32_to_name(raw)


def test_roles_parse_and_name_both_ways() -> None:
    roles = Role.parse(["member", "Notary"])
    assert roles == Role.MEMBER | Role.NOTARY
    assert roles.names() == ["MEMBER", "NOTARY"]
    assert Role.parse(roles.names()) == roles


def test_unknown_role_names_the_known_ones() -> None:
    with pytest.raises(MalformedError, match=r"unknown role 'admin'.*MEMBER"):
        Role.parse(["admin"])
