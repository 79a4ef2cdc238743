"""Sampled stacks (py-spy's ``raw`` output) folded into the frames that cost the most.

py-spy writes one line per distinct stack: ``frame;frame;...;frame count``, outermost
frame first. :func:`fold` sums the samples of one or more such files and answers, in
percent of all samples, each frame's own time (samples where it was the innermost frame)
and inclusive time (samples it was anywhere on). Frames on (nearly) every sample are the
process's entry points (runpy, the CLI, the event loop's ``run``): they say nothing, so
the inclusive list leaves out those at or above ``ubiquitous`` percent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Folded:
    samples: int = 0
    own: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)

    def add_line(self, line: str) -> None:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            return  # a blank or foreign line: py-spy writes none, but a file may be cut
        n, frames = int(count), stack.split(";")
        self.samples += n
        self.own[frames[-1]] += n
        for frame in set(frames):
            self.inclusive[frame] += n

    def top(self, n: int, ubiquitous: float = 95.0) -> dict[str, list[tuple[str, float]]]:
        """The ``n`` costliest frames by own and by inclusive time, in percent."""
        total = max(self.samples, 1)

        def percent(count: int) -> float:
            return round(100.0 * count / total, 1)

        own = [(f, percent(c)) for f, c in self.own.most_common(n)]
        inclusive = [
            (f, percent(c)) for f, c in self.inclusive.most_common() if percent(c) < ubiquitous
        ][:n]
        return {"own": own, "inclusive": inclusive}


def fold(lines: Iterable[str]) -> Folded:
    folded = Folded()
    for line in lines:
        folded.add_line(line)
    return folded


def fold_files(paths: Iterable[Path]) -> Folded:
    folded = Folded()
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                folded.add_line(line)
    return folded
