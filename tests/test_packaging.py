"""What CI checks of the package itself: the wheel holds every subpackage, installs alone in a
fresh environment with the core dependencies, and its `gristmill` command runs there."""

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("store", "curation", "synth", "train", "evals")

pytestmark = pytest.mark.e2e


def test_the_wheel_installs_in_a_fresh_environment_and_runs(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist), str(ROOT)], check=True, capture_output=True)
    (wheel,) = dist.glob("gristmill-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("gristmill", *(f"gristmill/{p}" for p in SUBPACKAGES)):
        assert f"{package}/__init__.py" in names
    assert not any(n.startswith(("store/", "tests/", "curation/")) for n in names)

    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    install = subprocess.run([env / "bin/python", "-m", "pip", "install", "-q",
                              "-c", str(ROOT / "constraints.txt"), str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    shown = subprocess.run([env / "bin/gristmill", "--help"], capture_output=True, text=True,
                           cwd=tmp_path)
    assert shown.returncode == 0 and "ingest" in shown.stdout
    data = tmp_path / "a.jsonl"
    data.write_text('{"text": "core dependencies are enough"}\n')
    ingested = subprocess.run([env / "bin/gristmill", "ingest", str(data), "-d", "t"],
                              capture_output=True, text=True, cwd=tmp_path)
    assert ingested.returncode == 0, ingested.stderr
    assert "t is now t@1" in ingested.stdout
    demo = subprocess.run([env / "bin/gristmill", "demo", "--dir", "demo"], capture_output=True,
                          text=True, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr  # the demo's text banks ship inside the wheel
    assert "curate: skipped, the curation steps need" in demo.stdout  # a core install has no ml


def test_folder_names_cannot_be_imported_as_top_level_packages():
    probe = "import store"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 1
    assert "import gristmill.store, not 'store'" in result.stderr
