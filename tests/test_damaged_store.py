"""A damaged store file and a full disk, through the real CLI: one message naming the store, its
own exit code, no traceback, and never a writing command that succeeds on top of damage.

The store's layout is DuckDB 2.0's: a 4 KiB file header and two 4 KiB database headers, then
fixed-size blocks (256 KiB), each checksummed when DuckDB reads it. The fixture asserts that no
block is free, so every overwrite below lands in bytes DuckDB reads.
"""

from __future__ import annotations

import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import orjson
import pytest

from gristmill.cli import main
from gristmill.store import ingest as ingest_module
from gristmill.store.damage import damaged, disk_full
from gristmill.store.verify import UNREADABLE

from .conftest import chat, write_jsonl

HEADER = 3 * 4096  # the file header and the two alternating database headers


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """support@1 with 300 chats, written by the CLI; no block of the file is free."""
    root = tmp_path_factory.mktemp("pristine")
    data = write_jsonl(root / "a.jsonl", [chat(f"question {i} " + "x" * (i % 50),
                                              f"answer {i} " + "y" * (i % 70)) for i in range(300)])
    path = root / "store.duckdb"
    assert main(["ingest", str(data), "-d", "support", "--store", str(path), "-q"]) == 0
    con = duckdb.connect(str(path), read_only=True)
    block_size, total, free = con.execute(
        "SELECT block_size, total_blocks, free_blocks FROM pragma_database_size()").fetchone()
    con.close()
    assert (block_size, free) == (256 * 1024, 0)
    assert path.stat().st_size == HEADER + total * block_size
    return path


def table_blocks(path: Path) -> dict[str, list[int]]:
    """The blocks each table's data lives in, for tables with a block of their own."""
    con = duckdb.connect(str(path), read_only=True)
    owners: dict[int, set[str]] = {}
    for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
        for (block,) in con.execute("SELECT DISTINCT block_id FROM pragma_storage_info(?) "
                                    "WHERE block_id >= 0", [table]).fetchall():
            owners.setdefault(block, set()).add(table)
    con.close()
    blocks: dict[str, list[int]] = {}
    for block, tables in sorted(owners.items()):
        if len(tables) == 1:
            blocks.setdefault(tables.pop(), []).append(block)
    return blocks


def overwrite(offset: Callable[[int], int]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        at = offset(path.stat().st_size)
        with path.open("r+b") as f:
            f.seek(at)
            # subtle: random bytes; DuckDB's checksum XORs 8-byte words, so a run of one repeated
            # word written over zeros can cancel out and go unseen
            f.write(random.Random(at).randbytes(64))
    return damage


def truncate(length: Callable[[int], int]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        os.truncate(path, length(path.stat().st_size))
    return damage


DAMAGE = {
    "magic": overwrite(lambda size: 8),
    "database-header": overwrite(lambda size: 4096 + 64),
    "first-block": overwrite(lambda size: HEADER + 64),
    "a-third-in": overwrite(lambda size: size // 3),
    "middle": overwrite(lambda size: size // 2),
    "near-the-end": overwrite(lambda size: size - 4096),
    "cut-to-nothing": truncate(lambda size: 0),
    "cut-in-the-header": truncate(lambda size: 100),
    "cut-after-the-headers": truncate(lambda size: HEADER),
    "cut-in-half": truncate(lambda size: size // 2),
    "cut-half-a-block": truncate(lambda size: size - 128 * 1024),
    "cut-one-byte": truncate(lambda size: size - 1),
}


def damaged_copy(pristine: Path, tmp_path: Path, damage: Callable[[Path], None]) -> Path:
    path = tmp_path / "store.duckdb"
    shutil.copy(pristine, path)
    damage(path)
    return path


def gristmill(capsys, *args: object) -> tuple[int, str, str]:
    code = main([*map(str, args), "-q"])
    out, err = capsys.readouterr()
    return code, out, err


def assert_named_damaged(err: str, command: str, path: Path) -> None:
    assert re.fullmatch(rf"gristmill {command}: the store {re.escape(str(path))} is damaged: "
                        r".+; restore it from a copy\n", err), err


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_every_command_names_a_damaged_store(pristine, tmp_path, capsys, damage):
    path = damaged_copy(pristine, tmp_path, damage)
    more = write_jsonl(tmp_path / "more.jsonl", [chat("a new question", "a new answer")])
    code, out, err = gristmill(capsys, "verify", "--store", path)
    assert code in (5, 7), (code, out, err)
    assert_named_damaged(err, "verify", path)
    for args in [("show", "support"), ("export", "support", "-o", tmp_path / "x.jsonl"), ("ls",)]:
        code, out, err = gristmill(capsys, *args, "--store", path)
        assert code in (0, 7), (args, code, err)  # 0 when its queries miss the bad blocks
        if code:
            assert_named_damaged(err, args[0], path)
    # the writing command last, on the same copy: it must refuse, whatever it reads
    code, out, err = gristmill(capsys, "ingest", more, "-d", "other", "--store", path)
    assert code == 7, (code, out, err)
    assert_named_damaged(err, "ingest", path)


TABLES = ("datasets", "examples", "members", "runs", "schema_migrations", "sources", "versions")


@pytest.mark.parametrize("table", TABLES)
def test_verify_reads_every_block_and_names_the_table_it_cannot_read(pristine, tmp_path, capsys,
                                                                       table):
    # the blocks of runs and schema_migrations are read by no other command, and metadata answers
    # count(*): only a full scan finds damage there
    (block, *_) = table_blocks(pristine)[table]
    path = damaged_copy(pristine, tmp_path, overwrite(
        lambda size: HEADER + block * 256 * 1024 + 128 * 1024))
    code, out, err = gristmill(capsys, "verify", "--store", path)
    assert code == 5
    assert re.fullmatch(rf"{UNREADABLE} {table}: Corrupt database file: .+\n", out), out
    assert err == (f"gristmill verify: the store {path} is damaged: DuckDB cannot read the "
                   f"table(s) {table}; restore it from a copy\n")
    code, out, err = gristmill(capsys, "verify", "--json", "--store", path)
    assert code == 5 and orjson.loads(out)["problems"][0].startswith(f"{UNREADABLE} {table}: ")
    more = write_jsonl(tmp_path / "more.jsonl", [chat("a new question", "a new answer")])
    code, _, err = gristmill(capsys, "ingest", more, "-d", "other", "--store", path)
    assert code == 7 and f"(reading table {table})" in err


def test_a_damaged_wal_is_named_too(pristine, tmp_path, capsys):
    path = tmp_path / "store.duckdb"
    shutil.copy(pristine, path)
    con = duckdb.connect(str(path))
    con.execute("PRAGMA disable_checkpoint_on_shutdown")  # the rows stay in the WAL
    con.execute("CREATE TABLE scratch AS SELECT range AS i, repeat('x', 100) AS s FROM range(20000)")
    con.close()
    wal = Path(f"{path}.wal")
    overwrite(lambda size: size // 2)(wal)
    code, _, err = gristmill(capsys, "ls", "--store", path)
    assert code == 7 and "Corrupt WAL file" in err
    assert_named_damaged(err, "ls", path)


def test_damage_in_another_file_duckdb_reads_is_not_the_store(tmp_path):
    store = tmp_path / "store.duckdb"
    other = duckdb.IOException(f'IO Error: Could not read enough bytes from file "{tmp_path}/a.parquet"')
    assert damaged(store, other) is None
    mine = duckdb.IOException(f'IO Error: Could not read enough bytes from file "{store}.wal"')
    assert damaged(store, mine) is not None and damaged(store, mine).exit_code == 7
    assert disk_full(store, duckdb.IOException("Could not write file: Permission denied")) is None


def big_input(folder: Path) -> list[Path]:
    """8 files of about 300 KB: each staged part stays small while the commit's WAL is ~3 MB."""
    folder.mkdir()
    rng = random.Random(0)
    words = "the of and to in is you that it was for on are as with his they at be this".split()
    return [write_jsonl(folder / f"part{n}.jsonl", [
        chat(f"question {n}.{i} " + " ".join(rng.choices(words, k=30)),
             " ".join(rng.choices(words, k=120))) for i in range(400)]) for n in range(8)]


def assert_unchanged(path: Path, tmp_path: Path, capsys) -> None:
    """The store still holds support@1 alone, verifies, and takes the next ingest."""
    code, out, _ = gristmill(capsys, "ls", "--json", "--store", path)
    assert code == 0 and [(d["latest"], d["examples"]) for d in orjson.loads(out)] == [
        ("support@1", 300)]
    assert gristmill(capsys, "verify", "--store", path)[0] == 0
    retry = write_jsonl(tmp_path / "retry.jsonl", [chat("after the disk was freed", "it works")])
    assert gristmill(capsys, "ingest", retry, "-d", "more", "--store", path)[0] == 0


def test_a_file_size_limit_at_commit_is_one_message_and_commits_nothing(pristine, tmp_path, capsys):
    # RLIMIT_FSIZE needs no privilege: a write past 1 MB fails with EFBIG, as a full disk fails
    # with ENOSPC; the staged parts (~300 KB each) fit, the commit's WAL does not
    path = tmp_path / "store.duckdb"
    shutil.copy(pristine, path)
    files = big_input(tmp_path / "in")

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    run = subprocess.run([sys.executable, "-m", "gristmill", "ingest", *map(str, files), "-d",
                          "more", "--store", str(path), "-q"], capture_output=True, text=True,
                         preexec_fn=limited)
    assert run.returncode == 1, run.stderr
    assert run.stderr == (f"gristmill ingest: the disk holding the store {path} is full (File too "
                          "large): nothing was committed by the write that failed; free some "
                          "space and run again\n")
    assert_unchanged(path, tmp_path, capsys)


@pytest.fixture
def small_disk(tmp_path):
    """A 32 MB tmpfs (the suite runs as root, as CI does: mounting one needs CAP_SYS_ADMIN)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a tmpfs here: {mounted.stderr.strip()}"
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_full_disk_at_commit_is_one_message_and_commits_nothing(pristine, small_disk, tmp_path,
                                                                  capsys, monkeypatch):
    path = small_disk / "store.duckdb"
    shutil.copy(pristine, path)
    files = big_input(tmp_path / "in")
    filler = small_disk / "filler"
    real_commit = ingest_module._commit

    def fill_then_commit(*args, **kwargs):
        # the disk fills after staging, just as the commit starts: 64 KB left of 32 MB
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        with filler.open("wb") as f:
            f.write(b"\0" * max(free - 64 * 1024, 0))
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "_commit", fill_then_commit)
    code, _, err = gristmill(capsys, "ingest", *files, "-d", "more", "--store", path)
    assert code == 1
    assert err == (f"gristmill ingest: the disk holding the store {path} is full (No space left "
                   "on device): nothing was committed by the write that failed; free some space "
                   "and run again\n")
    monkeypatch.undo()
    filler.unlink()
    assert_unchanged(path, tmp_path, capsys)
