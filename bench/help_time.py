"""`gristmill --help` start-up time as a ratio to `python -c pass` (target <= 3).

    .venv/bin/python bench/help_time.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

GRISTMILL = Path(sys.executable).parent / "gristmill"


def best_and_median(argv: list[str], runs: int = 30) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    best_base, median_base = best_and_median([sys.executable, "-c", "pass"])
    best_help, median_help = best_and_median([str(GRISTMILL), "--help"])
    best_sub, median_sub = best_and_median([str(GRISTMILL), "ingest", "--help"])
    print(f"python -c pass        : median {median_base * 1e3:6.1f} ms  best {best_base * 1e3:6.1f} ms")
    print(f"gristmill --help      : median {median_help * 1e3:6.1f} ms  best {best_help * 1e3:6.1f} ms")
    print(f"gristmill ingest --help: median {median_sub * 1e3:5.1f} ms  best {best_sub * 1e3:6.1f} ms")
    print(f"ratio (median): {median_help / median_base:.2f}  (target <= 3)")


if __name__ == "__main__":
    main()
