"""The demo consortium: its consortium file and service catalogue (``consortium.toml``, ``catalogue.toml``, package
data) and the fictional upstream services behind the providers' gateways (:mod:`network.demo.services`)."""
