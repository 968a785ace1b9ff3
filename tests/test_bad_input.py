"""Bad and hostile input ends in one message naming the file (and line), never a traceback, a
hang or a machine out of memory: non-UTF-8 and oversized YAML, alias bombs, a CSV quote never
closed, FIFOs and devices given as input, folders holding other files, a gzip of nothing."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import pytest

from gristmill.curation.recipe import load_recipe
from gristmill.errors import UsageError
from gristmill.evals.suite import load_suite
from gristmill.flywheel.loop_config import load_flywheel
from gristmill.synth.endpoint import load_endpoint

from .conftest import chat, write_jsonl

LOADERS = {"recipe": load_recipe, "suite": load_suite, "endpoint": load_endpoint,
           "flywheel": load_flywheel}
BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)]) + "\n"


@pytest.mark.parametrize("kind", LOADERS)
def test_a_yaml_file_that_is_not_utf8_is_named_with_its_line(tmp_path, kind):
    path = tmp_path / f"{kind}.yaml"
    path.write_bytes(b"# settings\nmodel: caf\xe9\n")
    with pytest.raises(UsageError) as e:
        LOADERS[kind](path)
    what = {"recipe": "a recipe", "suite": "a suite config", "endpoint": "an endpoint",
            "flywheel": "a flywheel config"}[kind]
    assert str(e.value) == f"{path}:2: {what} is not UTF-8 (byte 0xe9); save it as UTF-8"


@pytest.mark.parametrize("kind", LOADERS)
def test_an_alias_bomb_is_refused_before_it_expands(tmp_path, kind):
    path = tmp_path / f"{kind}.yaml"
    path.write_text(BOMB.replace("i: &i", "params: &i") if kind == "endpoint" else BOMB)
    with pytest.raises(UsageError, match=f"^{path}: not valid YAML: aliases expand to more "
                       "than 1,000,000 values$"):
        LOADERS[kind](path)


def test_a_config_past_the_size_cap_or_a_device_is_refused(tmp_path, cli):
    big = tmp_path / "big.yaml"
    big.write_text("steps: [length]\n" + "#" * (5 << 20) + "\n")
    for path in (big, "/dev/zero"):
        code, out, err = cli("curate", "x", "--recipe", path)
        assert code == 2 and err == (f"gristmill curate: {path}: a recipe is larger than 4 MiB; a "
                                     "config is a few KB (is this the right file?)\n")


def test_a_bad_yaml_value_in_set_is_one_message(store, tmp_path, cli):
    write_jsonl(tmp_path / "a.jsonl", [chat("q", "a")])
    assert cli("ingest", tmp_path / "a.jsonl", "-d", "x")[0] == 0
    code, _, err = cli("curate", "x", "--step", "length", "--set", "max_chars=[1")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


def test_a_csv_quote_never_closed_is_named_by_its_line_and_nothing_is_committed(tmp_path, cli):
    path = tmp_path / "a.csv"
    path.write_text('instruction,input,output\nhi,,hello\n"open,,never closed\nx,,y\nz,,w\n')
    code, _, err = cli("ingest", path, "-d", "x")
    assert code == 1 and err == (f"gristmill ingest: {path}:3: not valid CSV: a quoted field "
                                 "that opens here is never closed (the rest of the file was "
                                 "not read)\n")
    assert cli("ls")[1].startswith("0 dataset(s)")  # nothing committed


def test_fifos_and_devices_are_refused_without_a_hang(tmp_path):
    fifo = tmp_path / "stream"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        done = subprocess.run([sys.executable, "-m", "gristmill", "ingest", str(path), "-d", "x",
                               "--store", str(tmp_path / "s.duckdb")], capture_output=True,
                              text=True, timeout=60)
        what = "a FIFO" if path == fifo else "a device"
        assert (done.returncode, done.stderr) == (1, (
            f"gristmill ingest: {path} is {what}; ingest reads files and folders (save the "
            "stream to a file first)\n"))


def test_files_a_folder_holds_that_are_not_read_are_named(tmp_path, cli):
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [chat("q", "a")])
    (folder / "notes.txt").write_text("not data")
    os.mkfifo(folder / "pipe")
    code, out, _ = cli("ingest", folder, "-d", "x")
    assert code == 0 and out.rstrip().endswith(
        "; left out 2 file(s) of other types in the folders named (notes.txt, pipe)")


def test_a_gzip_of_nothing_but_newlines_stops_early(tmp_path, cli):
    path = tmp_path / "empty.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        for _ in range(64):
            f.write(b"\n" * (1 << 20))
    code, _, err = cli("ingest", path, "-d", "x")
    assert code == 1 and err == (f"gristmill ingest: {path}: it unpacks to more than 16.0 MiB "
                                 "with no record yet (only whitespace, from a file of a fraction "
                                 "of that): a compression bomb?\n")
