"""Name -> (factory, config class) registries, imported lazily, for command-line names."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Mapping, NamedTuple


class Entry(NamedTuple):
    module: str
    factory: str  # factory(space, config) -> the built object
    config: str  # Config subclass holding the hyperparameters


@dataclasses.dataclass(frozen=True)
class Registry:
    """Entries by name; ``kind`` / ``kinds`` name them in errors ("predictor" / "predictors")."""

    kind: str
    kinds: str
    entries: Mapping[str, Entry]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def entry(self, name: str) -> Entry:
        if name not in self.entries:
            raise ValueError(f"unknown {self.kind} {name!r}; known {self.kinds}: {', '.join(self.entries)}")
        return self.entries[name]

    def config_class(self, name: str) -> type:
        entry = self.entry(name)
        return getattr(importlib.import_module(entry.module), entry.config)

    def make(self, name: str, space, config) -> Any:
        entry = self.entry(name)
        return getattr(importlib.import_module(entry.module), entry.factory)(space, config)


__all__ = ["Entry", "Registry"]
