"""Pieces: inputs cut into pieces (whole files, or byte ranges of large JSON Lines files at line
ends) and staged side by side in worker processes, in piece order."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gristmill import workers as worker_pools
from gristmill.store import readers
from gristmill.store.stage import Piece, PieceResult

PIECE_BYTES = 32 << 20  # large JSON Lines files are staged in pieces of about this size
PARALLEL_BYTES = 64 << 20  # below this, worker processes cost more than they save


def split(files: list[Path]) -> list[Piece]:
    """Whole files, except large plain JSON Lines files, cut at line ends into PIECE_BYTES."""
    pieces: list[Piece] = []
    for path in files:
        size = path.stat().st_size if path.is_file() else 0
        if readers.file_type(path) != "jsonl" or path.name.endswith(".gz") \
                or size < 2 * PIECE_BYTES:
            pieces.append(Piece(len(pieces), path))
            continue
        with open(path, "rb") as f:
            start = 0
            while start < size:
                f.seek(min(start + PIECE_BYTES, size))
                f.readline()
                end = min(f.tell(), size)
                pieces.append(Piece(len(pieces), path, start, end - start))
                start = end
    return pieces


def stage_all(pieces: list[Piece], job, workers: int | None, progress: bool) -> list[PieceResult]:
    """Stage every piece, in worker processes when there is enough to share; stops early at a
    failed piece (the first bad record of on_error=fail)."""
    total = sum(_size(p) for p in pieces)
    workers = workers or min(os.cpu_count() or 1, len(pieces))
    results: list[PieceResult] = []
    pool = None
    if workers > 1 and total >= PARALLEL_BYTES:
        pool = worker_pools.executor(workers, _start_method())
    staged = (pool.map if pool else map)(job, pieces)  # workers start here, before the bar's thread
    bar = _progress_bar(total) if progress and total else None
    try:
        for result in staged:  # in piece order
            results.append(result)
            _advance(bar, pieces[result.index])
            if result.failed:
                break
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    return results


def _start_method() -> str:
    """fork (instant) while this process runs one thread, else spawn: a fork copies locks that
    other threads may hold (DuckDB's, a progress bar's) and they would never be released."""
    try:
        return "fork" if len(os.listdir("/proc/self/task")) == 1 else "spawn"
    except OSError:
        return "spawn"


def offsets(pieces: list[Piece], staged: list[PieceResult]) -> dict[int, tuple[int, int]]:
    """For each staged piece, (lines of its file before it, positions of all pieces before it):
    the first makes line numbers file-wide, the second makes ordinals unique across pieces."""
    result, in_file, before = {}, {}, 0
    for piece_result in staged:
        path = pieces[piece_result.index].path
        result[piece_result.index] = (in_file.get(path, 0), before)
        in_file[path] = in_file.get(path, 0) + piece_result.lines
        before += piece_result.lines
    return result


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc="ingest", unit="B", unit_scale=True, file=sys.stderr,
                mininterval=0.5, leave=False)


def _size(piece: Piece) -> int:
    if piece.length is not None:
        return piece.length
    return piece.path.stat().st_size if piece.path.is_file() else 0


def _advance(bar, piece: Piece) -> None:
    if bar is not None:
        bar.update(_size(piece))
