"""One file per strategy; importing a module registers it. A new strategy is a new file plus a line here."""

from strategies import (  # noqa: F401
    agem,
    cumulative,
    der,
    ewc,
    gem,
    iso,
    iso_ewc,
    iso_lwf,
    iso_replay,
    joint,
    lwf,
    naive,
    replay,
    si,
)
