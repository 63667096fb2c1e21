"""The demo consortium: its consortium file and service catalogue (``consortium.toml``, ``catalogue.toml``, package
data) and the fictional upstream services behind the providers' gateways (:mod:`demo.services`)."""

from __future__ import annotations

from pathlib import Path


def demo_config_path() -> Path:
    """The packaged demo consortium file, ``demo/consortium.toml``."""
    return Path(__file__).resolve().parent / "consortium.toml"


__all__ = ["demo_config_path"]
