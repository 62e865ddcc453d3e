"""Pure checks of values a DAG author passes, shared by both backends and run before anything is submitted.

Nothing here imports more than the standard library: the hook calls these before it connects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from airflow_snowflake_batch.exceptions import InputValidationError


def check_param_values(params: Mapping[str, Any]) -> None:
    """Refuse NaN and infinite numbers anywhere in the model's ``params`` (nested lists and dicts too).

    snowflake-ml writes a float param into the inference SQL with ``str()``
    (``param_utils.format_param_value_for_sql``), so NaN becomes a bare ``nan`` and infinity ``inf``:
    not SQL, and the statement fails on Snowflake, while the local backend would hand the value to the
    model. Its own check (``param_ops.validate_params``) lets NaN through, even for a STRING param. The
    same params must behave the same on both backends, so they are refused here, before submit.

    >>> check_param_values({"temperature": 0.2, "stop": ["\\n"], "opts": {"k": 1}})
    >>> check_param_values({"temperature": float("nan")})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    airflow_snowflake_batch.exceptions.InputValidationError: params['temperature'] is nan: ...
    """
    for name, value in params.items():
        _check_value(value, f"params[{name!r}]")


def _check_value(value: Any, where: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_value(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_value(item, f"{where}[{index}]")
        return
    if isinstance(value, Decimal):
        finite = value.is_finite()
    elif isinstance(value, float) or type(value).__name__.startswith("float"):  # numpy floats too
        try:
            finite = math.isfinite(float(value))
        except (TypeError, ValueError):
            return
    else:
        return
    if not finite:
        raise InputValidationError(
            f"{where} is {value!r}: NaN and infinity cannot be passed to a model as a param (snowflake-ml "
            "writes them into the inference SQL as bare nan/inf, which Snowflake rejects). Pass a finite "
            "number, None, or a string such as 'NaN' if the model expects text."
        )
