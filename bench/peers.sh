#!/usr/bin/env bash
# Set up the peer libraries the benchmarks compare against, in their own venv (git-ignored):
#     bash bench/peers.sh            # creates bench/.venv-peers with datatrove
# Kept apart from the project venv so a peer's pins never change what Gristmill runs on.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-peers"
if [ ! -x "$venv/bin/python" ]; then
    python3.11 -m venv "$venv"
fi
# what its MinHash stages and JSONL reader import (a subset of its io and processing extras)
"$venv/bin/pip" install --quiet "datatrove==0.10.1" "xxhash<4" "tokenizers" "orjson" "zstandard"
"$venv/bin/python" -c "import datatrove, importlib.metadata as m; print('datatrove', m.version('datatrove'))"
