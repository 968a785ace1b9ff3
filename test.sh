#!/usr/bin/env bash
# The whole test suite: lint, then pytest (sets .venv up first when it is missing or stale).
# Arguments go to pytest, e.g. `bash test.sh -k ingest -x`.
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh --if-needed
.venv/bin/ruff check .
exec .venv/bin/pytest "$@"
