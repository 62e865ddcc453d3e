# Sourced by scripts/test.sh and scripts/demo.sh: defines `uv`, installing it from PyPI when missing.
# shellcheck shell=bash

if ! python3 -m uv --version >/dev/null 2>&1; then
    echo "==> Installing uv: python3 -m pip install uv"
    python3 -m pip install --quiet --disable-pip-version-check uv || true
fi
if python3 -m uv --version >/dev/null 2>&1; then
    uv() { python3 -m uv "$@"; }
elif ! uv --version >/dev/null 2>&1; then
    # e.g. a system Python that refuses pip installs (PEP 668) and no uv on PATH.
    echo "Could not install uv with pip. Install uv (https://docs.astral.sh/uv/) and rerun." >&2
    exit 1
fi
