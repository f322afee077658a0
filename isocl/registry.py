"""A name -> object registry: what the CLI, the scenario files and the W&B config call things."""

import fnmatch
from collections.abc import Callable, Iterator


class Registry:
    """Objects registered under unique names, e.g. `@STRATEGIES.register("ewc")` on a builder function."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Callable] = {}

    def register(self, name: str) -> Callable:
        def add(obj: Callable) -> Callable:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice ({self._entries[name]} and {obj})")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> Callable:
        if name not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}")
        return self._entries[name]

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        """The registered names, sorted (so `sorted(registry)` and `list(registry)` list what may be asked for)."""
        return iter(self.names())
