"""What every benchmark shares: timing statistics and the result file.

Each benchmark measures its figure next to a baseline in the same run and writes
``bench/results/<name>.json``; ``bench/report.py`` prints them as one table.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) of ``samples`` by the nearest-rank method."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(samples: Sequence[float]) -> float:
    """The median of ``samples``."""
    return statistics.median(samples)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        ).stdout.strip(),
    }


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of ``packages``."""
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "absent"
    return found


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children) from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return int(fields[1]), ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process with its descendants (Linux)."""
    stats = {
        int(entry.name): _stat(int(entry.name))
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
    }
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        if stat is not None:
            children.setdefault(stat[0], []).append(pid)
    used = {}
    for name, root in roots.items():
        total, pending = 0.0, [root]
        while pending:
            pid = pending.pop()
            stat = stats.get(pid)
            total += stat[1] if stat else 0.0
            # A named process started by another (the services by the benchmark) counts once,
            # under its own name.
            pending.extend(child for child in children.get(pid, ()) if child not in roots.values())
        used[name] = total
    return used


def peak_memory_mb(pid: int) -> float | None:
    """The peak resident memory of process ``pid`` so far (``VmHWM``), in MB; None if gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)  # reported in kB
    return None


def figure(
    value: float | None, unit: str, target: str, passed: bool | None, **details: Any
) -> dict[str, Any]:
    """One reported figure with its target; ``passed`` None when the run did not measure it."""
    return {"value": value, "unit": unit, "target": target, "passed": passed, **details}


def write_result(
    name: str,
    *,
    metric: str,
    value: float,
    unit: str,
    baseline_value: float,
    baseline: str,
    target: str,
    passed: bool,
    higher_is_better: bool = True,
    packages: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``bench/results/<name>.json`` and print a one-line summary."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    ratio = value / baseline_value if baseline_value else float("inf")
    result = {
        "name": name,
        "metric": metric,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_value": baseline_value,
        "ratio": ratio,
        "higher_is_better": higher_is_better,
        "target": target,
        "passed": passed,
        "machine": machine(),
        "versions": versions(*packages),
        "date": datetime.now(UTC).isoformat(),
        **(extra or {}),
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(
        f"{name}: {metric} = {value:.6g} {unit} (baseline {baseline}: {baseline_value:.6g};"
        f" ratio {ratio:.3f}; target {target}: {'passed' if passed else 'MISSED'})"
    )
    return path
