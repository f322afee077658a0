"""One file per strategy; importing a module registers it (and with it its iso- variant). A new strategy is a new
file plus its name in this import line. Installed as the package `isocl.strategies`."""

from . import agem, cumulative, der, ewc, ewc_factored, gem, joint, lwf, naive, replay, si  # noqa: F401
