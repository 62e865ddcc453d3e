#!/usr/bin/env bash
# The project's test command (README command 2; CI runs it through .ci/run).
#
#   1. the locked environment (.venv, `uv sync --locked --extra test`, newest supported Airflow):
#      the whole suite: unit, contract, emulator, security, and end-to-end against a real Airflow;
#      system tests skip themselves unless SNOWFLAKE_* credentials are set; the fault suite's short
#      scenarios (tests/faults, marker `faults`), once each, in a step of their own (`faults`, about
#      3 minutes): README "Reliability" has the full suite's command;
#   2. the floor environment (.venv-floor, the oldest supported Airflow 3.1 release): the unit tests;
#   3. lint: ruff check and ruff format --check (versions pinned in the test extra);
#   4. the benchmarks at their --smoke size (a step that fails only if a script crashes).
#   5. type check: mypy on the package (configuration in pyproject.toml).
#
# Both environments always run, so one failure does not hide another; the script fails if either
# fails or collects no tests. Extra arguments go to the locked and floor pytest runs (e.g.
# `-k warehouse`); the fault step is then skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The oldest Airflow this provider supports (pyproject: apache-airflow>=3.1). 3.1.0 and 3.1.1
# need structlog<25.5 (see scripts/floor-constraints.txt); Airflow is meant to be installed
# with its constraint files, which pin the structlog of the release.
FLOOR_AIRFLOW_VERSION="3.1.0"
# Unit-level tests only: tests/e2e also holds fast checks (example DAGs, the result checker); its
# Airflow-starting tests are marked e2e and deselected.
FLOOR_TESTS="${FLOOR_TESTS:-tests/unit tests/e2e}"
REPORTS="$(mktemp -d "${TMPDIR:-/tmp}/airflow-snowflake-batch-tests.XXXXXX")"

step() { printf '\n==> %s\n' "$*"; }

# The suite starts hundreds of Python processes (Airflow components, task runners, local job
# runners). With PYTHONDONTWRITEBYTECODE set (some CI images set it) none of them keeps bytecode
# caches, and each recompiles every module it imports: a local job then spends ~6 s importing
# scikit-learn instead of ~1.5 s. Let the first import of each module write its cache.
unset PYTHONDONTWRITEBYTECODE

# shellcheck source=scripts/uv.sh
source scripts/uv.sh

step "Locked environment (.venv): uv sync --locked --extra test"
uv sync --locked --extra test

step "Floor environment (.venv-floor): apache-airflow==${FLOOR_AIRFLOW_VERSION}"
uv venv --quiet --allow-existing --python "$(.venv/bin/python -c "import sys; print(sys._base_executable)")" .venv-floor
uv pip install --quiet --python .venv-floor/bin/python \
    --constraints scripts/floor-constraints.txt -e ".[test]" "apache-airflow==${FLOOR_AIRFLOW_VERSION}"

declare -a SUMMARY=()
FAILED=0

# run_pytest LABEL PYTHON PYTEST-ARGS...: runs pytest, records the outcome; exit 5 (no tests) is a failure.
run_pytest() {
    local label="$1" python="$2"
    shift 2
    local junit="${REPORTS}/${label}.xml"
    step "pytest (${label}, $("${python}" -c 'import airflow; print("Airflow", airflow.__version__)'))"
    local rc=0
    "${python}" -m pytest --junitxml="${junit}" "$@" || rc=$?
    local counts
    counts="$(python3 scripts/junit_counts.py "${junit}" 2>/dev/null || echo "no report")"
    case "${rc}" in
        0) SUMMARY+=("PASS  ${label}: ${counts}") ;;
        5) SUMMARY+=("FAIL  ${label}: pytest collected no tests"); FAILED=1 ;;
        *) SUMMARY+=("FAIL  ${label}: pytest exit ${rc}; ${counts}"); FAILED=1 ;;
    esac
}

step "Lint: ruff check and ruff format --check"
LINTED=(airflow_snowflake_batch tests dags_examples scripts benchmarks)
if .venv/bin/ruff check "${LINTED[@]}" && .venv/bin/ruff format --check "${LINTED[@]}"; then
    SUMMARY+=("PASS  lint")
else
    SUMMARY+=("FAIL  lint: run .venv/bin/ruff check --fix and .venv/bin/ruff format"); FAILED=1
fi

# The documentation (docs/, Sphinx): warnings are errors, so a broken include or docstring fails here.
step "Docs: sphinx-build -W (warnings as errors)"
if .venv/bin/sphinx-build -W --keep-going -q -b html docs "${REPORTS}/docs-html"; then
    SUMMARY+=("PASS  docs")
else
    SUMMARY+=("FAIL  docs: fix the sphinx-build warnings above"); FAILED=1
fi

step "Benchmarks, smoke sizes (fail only if a script crashes; figures are not checked)"
BENCH_FAILED=()
for bench in triggerer_scale parse_cost local_throughput; do
    .venv/bin/python "benchmarks/${bench}.py" --smoke || BENCH_FAILED+=("${bench}")
done
if [[ ${#BENCH_FAILED[@]} -eq 0 ]]; then
    SUMMARY+=("PASS  benchmarks (smoke)")
else
    SUMMARY+=("FAIL  benchmarks crashed: ${BENCH_FAILED[*]}"); FAILED=1
fi

step "Type check: mypy (configuration in pyproject.toml)"
if .venv/bin/mypy; then
    SUMMARY+=("PASS  mypy")
else
    SUMMARY+=("FAIL  mypy: see the errors above"); FAILED=1
fi

run_pytest locked .venv/bin/python tests -m "not faults" "$@"
# The short fault scenarios, one repetition each, on one real Airflow (the long ones need FAULTS_FULL=1).
# A focused run (arguments given, e.g. -k warehouse) skips them: they would select nothing or all.
if [[ $# -eq 0 ]]; then
    FAULTS_REPETITIONS=1 FAULTS_FULL=0 run_pytest faults .venv/bin/python tests/faults -m faults
else
    SUMMARY+=("SKIP  faults: arguments given (run them alone: .venv/bin/python -m pytest tests/faults -m faults)")
fi
# shellcheck disable=SC2086 # FLOOR_TESTS is a space-separated list of paths.
run_pytest floor .venv-floor/bin/python ${FLOOR_TESTS} -m "not e2e and not system" "$@"

step "Summary"
printf '  %s\n' "${SUMMARY[@]}"
if [[ "${FAILED}" -ne 0 ]]; then
    echo "Tests FAILED."
else
    echo "All tests passed in both environments."
fi
# Last line: the counts of both runs together ("total: N passed, N failed, N skipped").
python3 scripts/junit_counts.py --total "${REPORTS}"/*.xml || true
rm -rf "${REPORTS}"
exit "${FAILED}"
