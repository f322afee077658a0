"""A scenario's `events`: which experience is trained or withdrawn when, checked before anything trains."""

from isocl.errors import ConfigError

EVENT_KINDS = ("train", "remove")


def validate_events(section: str, raw, n_experiences: int) -> tuple[tuple[str, int], ...]:
    """Each experience is trained at most once; only a trained, not yet removed experience can be removed; at
    least one trained experience is left at the end to evaluate."""
    example = "e.g. [{train: 0}, {train: 1}, {remove: 0}, {train: 2}]"
    if not isinstance(raw, list | tuple) or not raw:
        raise ConfigError(f"{section} must be a non-empty list of {{train: i}} or {{remove: i}} events, {example}")
    trained, removed, events = set(), set(), []
    for n, item in enumerate(raw):
        where = f"{section}[{n}]"
        if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in EVENT_KINDS:
            raise ConfigError(f"{where}={item!r} must be one of {{train: i}} or {{remove: i}}, {example}")
        kind, exp = next(iter(item.items()))
        if isinstance(exp, bool) or not isinstance(exp, int) or not 0 <= exp < n_experiences:
            raise ConfigError(f"{where}: experience {exp!r} must be an integer in 0..{n_experiences - 1}")
        if kind == "train" and exp in trained:
            raise ConfigError(f"{where}: experience {exp} is trained twice; each experience is trained at most once")
        if kind == "remove" and (exp not in trained or exp in removed):
            state = "already removed" if exp in removed else "not trained yet"
            raise ConfigError(f"{where}: cannot remove experience {exp}: it is {state}")
        (trained if kind == "train" else removed).add(exp)
        events.append((kind, exp))
    if events[0][0] != "train" or not trained - removed:
        raise ConfigError(f"{section} must start with a train event and leave at least one trained experience")
    return tuple(events)
