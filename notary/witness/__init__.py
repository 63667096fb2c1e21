"""A witness of the audit log: a small HTTP service, run by one member firm or the regulator, that cosigns the
notary's checkpoints (C2SP tlog-witness, tlog-cosignature) only when each is consistent with the last one it
cosigned, and keeps the evidence when it is not.

``init_witness`` registers a log in a witness's state (the operator's step); ``WitnessConfig`` and
``make_server``/``serve`` run the service; ``python -m notary.witness`` does both from the command line.
"""

from notary.witness.server import (
    InconsistentCheckpointError,
    SizeConflictError,
    Witness,
    WitnessConfig,
    WitnessServer,
    make_server,
    serve,
)
from notary.witness.state import (
    Conflict,
    ConflictKind,
    LogState,
    OriginExistsError,
    UnknownOriginError,
    WitnessState,
    WitnessStateError,
    init_witness,
)

__all__ = [
    "Conflict",
    "ConflictKind",
    "InconsistentCheckpointError",
    "LogState",
    "OriginExistsError",
    "SizeConflictError",
    "UnknownOriginError",
    "Witness",
    "WitnessConfig",
    "WitnessServer",
    "WitnessState",
    "WitnessStateError",
    "init_witness",
    "make_server",
    "serve",
]
