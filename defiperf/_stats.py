"""Statistics snapshots shared by the caches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class CacheStats(Mapping[str, float]):
    """A snapshot of a cache's counters; read it as attributes or as a mapping.

    >>> s = CacheStats(hits=3, misses=1, evictions=0, expirations=0)
    >>> s.hit_rate, s["hits"]
    (0.75, 3)
    """

    hits: int
    misses: int
    evictions: int
    expirations: int
    hit_rate: float = field(init=False)

    def __post_init__(self) -> None:
        total = self.hits + self.misses
        object.__setattr__(self, "hit_rate", self.hits / total if total else 0.0)

    def __getitem__(self, name: str) -> float:
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dataclass_fields__)

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)

    def to_dict(self) -> dict[str, float]:
        """The counters as a plain dict."""
        return asdict(self)
