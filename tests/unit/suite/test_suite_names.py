from __future__ import annotations

import pytest

from suite import SUITES, check_suite


def test_known_suites_are_returned() -> None:
    assert [check_suite(name) for name in SUITES] == ["intl", "sm"]


@pytest.mark.parametrize("name", ["", "SM", "gm", "intl ", "sm2"])
def test_unknown_suite_is_refused_naming_the_choices(name: str) -> None:
    with pytest.raises(ValueError, match="choose one of intl, sm"):
        check_suite(name)
