#!/usr/bin/env bash
# The project's test command (README command 2; CI runs it through .ci/run).
#
#   1. the locked environment (.venv, `uv sync --locked --extra test`, newest supported Airflow):
#      the whole suite: unit, contract, emulator and security on two workers (pytest-xdist), then
#      end-to-end against a real Airflow, one test at a time;
#      system tests skip themselves unless SNOWFLAKE_* credentials are set; the fault suite's short
#      scenarios (tests/faults, marker `faults`), once each, in a step of their own (`faults`, about
#      3 minutes): docs/reliability.rst has the full suite's command;
#   1b. tests/ui in the locked environment: a real Airflow UI in headless Chromium (Debian's chromium
#      and chromium-driver, installed here when missing and possible; skipped without them);
#   2. the floor environment (.venv-floor, the oldest supported Airflow 3.1 release): the unit tests
#      (two workers);
#   2b. the newest 3.1 and 3.2 releases (.venv-3.1, .venv-3.2, each installed with its constraint
#      file scripts/constraints-airflow-3.N.txt): the real-Airflow REST backfill (its batch tasks
#      defer to the triggerer, which must stay alive without a crash in its log), the example DAG
#      checks and dag.test() runs; a few minutes each;
#   3. lint: ruff check and ruff format --check (versions pinned in the test extra); the docs build
#      (Sphinx, warnings as errors);
#   4. the benchmarks at their --smoke size (a step that fails only if a script crashes).
#   5. type check: mypy on the package (configuration in pyproject.toml).
#
# Every environment always runs, so one failure does not hide another; the script fails if any
# fails or collects no tests. Extra arguments go to the locked and floor pytest runs (e.g.
# `-k warehouse`); the fault step and the 3.1 and 3.2 runs are then skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The oldest Airflow this provider supports (pyproject: apache-airflow>=3.1.2). 3.1.0 and 3.1.1
# fail a task killed by a signal instead of retrying it (apache/airflow#55767, in the task SDK 1.1.2
# of Airflow 3.1.2), which breaks "a retry re-attaches to the job". scripts/floor-constraints.txt
# pins what Airflow's own constraint files would (they cannot be downloaded here).
FLOOR_AIRFLOW_VERSION="3.1.2"
# The other Airflow lines tested end to end: each environment's packages, Airflow included, come from
# its constraint file (scripts/constraints-airflow-<line>.txt).
VERSION_LINES=(3.1 3.2)
# Unit tests only: the 3.1 line's end-to-end tests run on its newest release (.venv-3.1) below.
FLOOR_TESTS="${FLOOR_TESTS:-tests/unit}"
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

step "Chromium for the UI tests (tests/ui): Debian's chromium and chromium-driver"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if command -v apt-get >/dev/null && [[ "$(id -u)" -eq 0 ]]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
            || echo "Could not install chromium and chromium-driver: tests/ui will be skipped."
    else
        echo "chromium and chromedriver are missing (install Debian's chromium and chromium-driver): tests/ui will be skipped."
    fi
fi

step "Floor environment (.venv-floor): apache-airflow==${FLOOR_AIRFLOW_VERSION}"
uv venv --quiet --allow-existing --python "$(.venv/bin/python -c "import sys; print(sys._base_executable)")" .venv-floor
uv pip install --quiet --python .venv-floor/bin/python \
    --constraints scripts/floor-constraints.txt -e ".[test]" "apache-airflow==${FLOOR_AIRFLOW_VERSION}"

for line in "${VERSION_LINES[@]}"; do
    step "Airflow ${line} environment (.venv-${line}): scripts/constraints-airflow-${line}.txt"
    uv venv --quiet --allow-existing --python "$(.venv/bin/python -c "import sys; print(sys._base_executable)")" ".venv-${line}"
    uv pip install --quiet --python ".venv-${line}/bin/python" \
        --constraints "scripts/constraints-airflow-${line}.txt" -e ".[test]" apache-airflow
done

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
for bench in triggerer_scale parse_cost local_throughput fingerprint_cost round_trips; do
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

if [[ $# -eq 0 ]]; then
    # What starts no Airflow runs on two workers (pytest-xdist; each worker has its own emulated account);
    # the end-to-end tests, each starting Airflow components or dag.test() runs, run one at a time.
    run_pytest locked .venv/bin/python tests --ignore=tests/e2e -m "not faults and not ui" -n 2
    run_pytest e2e .venv/bin/python tests/e2e -m "not faults and not ui"
else
    run_pytest locked .venv/bin/python tests -m "not faults and not ui" "$@"
fi
# A DAG author's day in the Airflow UI, in headless Chromium (about 3 minutes; tests/ui).
if [[ $# -eq 0 ]]; then
    run_pytest ui .venv/bin/python tests/ui -m ui
else
    SUMMARY+=("SKIP  ui: arguments given (run them alone: .venv/bin/python -m pytest tests/ui -m ui)")
fi
# The short fault scenarios, one repetition each, on one real Airflow (the long ones need FAULTS_FULL=1).
# A focused run (arguments given, e.g. -k warehouse) skips them: they would select nothing or all.
if [[ $# -eq 0 ]]; then
    FAULTS_REPETITIONS=1 FAULTS_FULL=0 run_pytest faults .venv/bin/python tests/faults -m faults
else
    SUMMARY+=("SKIP  faults: arguments given (run them alone: .venv/bin/python -m pytest tests/faults -m faults)")
fi
# shellcheck disable=SC2086 # FLOOR_TESTS is a space-separated list of paths.
run_pytest floor .venv-floor/bin/python ${FLOOR_TESTS} -m "not e2e and not system" -n 2 "$@"
# The newest 3.1 and 3.2 releases, end to end: the REST backfill on a real Airflow (its deferrable
# batch tasks defer to the triggerer, which must survive) and the example DAGs' checks and dag.test() runs.
# A focused run (arguments given) skips them, as the fault step: they would select nothing or all.
for line in "${VERSION_LINES[@]}"; do
    if [[ $# -eq 0 ]]; then
        # (Less the parse-import checks: a subprocess per DAG file, and the same on every version.)
        # The REST backfill and the example DAGs, to keep the command within its time budget; all of
        # tests/e2e on either line: .venv-3.1/bin/python -m pytest tests/e2e (about 6 minutes).
        run_pytest "airflow-${line}" ".venv-${line}/bin/python" tests/e2e/test_backfill_e2e.py tests/e2e/test_example_dags.py \
            -m "not system" -k "not test_parsing_imports_no_heavy_library"
    else
        SUMMARY+=("SKIP  airflow-${line}: arguments given (run: .venv-${line}/bin/python -m pytest tests/e2e)")
    fi
done

step "Summary"
printf '  %s\n' "${SUMMARY[@]}"
if [[ "${FAILED}" -ne 0 ]]; then
    echo "Tests FAILED."
else
    echo "All tests passed in every environment."
fi
# Last line: the counts of all runs together ("total: N passed, N failed, N skipped").
python3 scripts/junit_counts.py --total "${REPORTS}"/*.xml || true
rm -rf "${REPORTS}"
exit "${FAILED}"
