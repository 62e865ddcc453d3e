#!/usr/bin/env bash
# The demo (README command 1): install everything, then score demo data with the example DAGs on a
# local workspace in ./demo-workspace. No Snowflake account needed. Arguments go to scripts/demo.py;
# `--ui` starts Airflow with its UI on http://127.0.0.1:8080 (admin / admin) over it instead, until Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Bytecode caches: each `airflow dags test` task and local job is a fresh interpreter (see scripts/test.sh).
unset PYTHONDONTWRITEBYTECODE
# shellcheck source=scripts/uv.sh
source scripts/uv.sh
# Its own environment with only what the demo runs (the local backend, scikit-learn): the test
# environment (.venv) also holds the test tools and models, and `uv sync` of one set removes the other's.
export UV_PROJECT_ENVIRONMENT=.venv-demo
uv sync --locked --extra demo
exec .venv-demo/bin/python scripts/demo.py "$@"
