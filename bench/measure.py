"""Timing helpers shared by the benchmarks: wall time and peak memory of a command's process tree."""

from __future__ import annotations

import subprocess
import time

import psutil


def run_measured(argv: list[str], **kwargs) -> tuple[float, int, subprocess.CompletedProcess]:
    """(seconds, peak RSS in bytes of the process and its children summed, result)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    out, err = proc.communicate()
    return seconds, peak, subprocess.CompletedProcess(argv, proc.returncode, out, err)


def gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB"
