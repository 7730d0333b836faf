"""Rank the functions of a py-spy ``--format raw`` profile (``pipeline.py --profile DIR``).

``python profile_top.py DIR/intake.txt [--top 40] [--match sqlalchemy]`` prints, per function,
its own samples (where the CPU was) and its total samples (what it caused), as shares of all.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

WAITING = (
    "EpollSelector.select",
    "aiosqlite/core.py:59)",
    "concurrent/futures/thread.py:81)",
    "Condition.wait",
    "Event.wait",
    "Thread._wait_for_tstate_lock",
)
"""Leaf frames of a thread that waits (py-spy's idle detection misses these): not CPU."""


def rank(path: Path, match: str | None) -> tuple[int, Counter[str], Counter[str]]:
    """Total samples of busy threads, and each frame's own and inclusive samples."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        if any(wait in frames[-1] for wait in WAITING):
            continue
        weight = int(count)
        samples += weight
        own[frames[-1]] += weight
        for frame in set(frames):
            if match is None or match in frame:
                total[frame] += weight
    return samples, own, total


def main() -> None:
    """Print the top functions by own and by total samples."""
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", help="only frames whose text contains this")
    arguments = parser.parse_args()
    samples, own, total = rank(arguments.profile, arguments.match)
    for title, counts in (("own", own), ("total", total)):
        print(f"== {title} ({samples} samples)")
        for frame, count in counts.most_common(arguments.top):
            print(f"{100 * count / samples:6.1f}%  {frame}")


if __name__ == "__main__":
    main()
