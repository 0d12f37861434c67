"""The checksum of a run's metric histories, computed the same way on both sides of an
import: every point (key, step, timestamp, value) counts, NaN and ±inf included, in a fixed
order, so two servers holding the same points agree and a missing, changed or doubled
point does not."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Point", "RunDigest", "series_digest"]

#: (step, timestamp, value) of one point.
Point = tuple[int, int, float]


def _line(point: Point) -> str:
    step, timestamp, value = point
    # repr() of a float round-trips exactly; NaN is 'nan', the infinities 'inf' and '-inf'.
    return f"{step}\t{timestamp}\t{float(value)!r}\n"


def series_digest(points: Iterable[Point]) -> tuple[int, str]:
    """(number of points, sha256) of one series, whatever order the points came in."""
    lines = sorted(_line(point) for point in points)
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
    return len(lines), digest.hexdigest()


@dataclass(frozen=True)
class RunDigest:
    """Per metric key, (points, sha256) of its series."""

    series: Mapping[str, tuple[int, str]]

    @property
    def points(self) -> int:
        return sum(count for count, _ in self.series.values())

    @property
    def checksum(self) -> str:
        digest = hashlib.sha256()
        for key in sorted(self.series):
            count, value = self.series[key]
            digest.update(f"{key}\t{count}\t{value}\n".encode())
        return digest.hexdigest()
