"""What a lab declares once: its number and name, and the key results it records."""

from __future__ import annotations

from dataclasses import dataclass

from labkit.labs.golden import Result


@dataclass(frozen=True)
class Lab:
    """One lab: ``notebooks/<name>.ipynb`` and what it records in ``results.json``."""

    number: int
    name: str  # "01_attention_maps": the notebook's file name, the runner's and the report's lab name
    title: str
    results: tuple[Result, ...]

    def result(self, key: str) -> Result:
        for r in self.results:
            if r.key == key:
                return r
        raise KeyError(f"{self.name} declares no result {key!r}")

    @property
    def result_keys(self) -> list[str]:
        return [r.key for r in self.results]

    @property
    def results_by_key(self) -> dict[str, Result]:
        return {r.key: r for r in self.results}
