"""`consortium up`'s SIGTERM handler: the first SIGTERM interrupts what `up` is doing and marks it stopping (in
case Python drops the interrupt inside a finalizer); a second one does not cut the stopping short."""

from __future__ import annotations

import signal

import pytest

from cli import up


def test_the_first_sigterm_interrupts_and_marks_stopping_and_the_second_is_ignored() -> None:
    up._STOP.clear()
    try:
        with pytest.raises(KeyboardInterrupt):
            up._stop_on_sigterm(signal.SIGTERM, None)
        assert up._STOP.is_set()
        with pytest.raises(KeyboardInterrupt):
            up._stop_if_asked()  # where `up` looks between its steps
        up._stop_on_sigterm(signal.SIGTERM, None)  # returns: stopping goes on
    finally:
        up._STOP.clear()
