"""Fixtures of the local backend tests: a real workspace, real models, the real hook (detached job
processes). Defined once, in ``tests/local_support.py``.
"""

from local_support import (  # noqa: F401 - pytest finds fixtures by name in a conftest
    _no_leftover_jobs,
    hook,
    rows,
    sk_model,
    train_rows,
    workspace,
    xgb_model,
)
