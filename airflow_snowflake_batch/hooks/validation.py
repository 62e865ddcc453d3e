"""Checks of inputs against a model function's signature, shared by both backends.

They run in the hook before anything is submitted or written, so a bad input costs no compute and
gets the same error on Snowflake and on the local workspace.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.exceptions import FunctionResolutionError, InputValidationError
from airflow_snowflake_batch.identifiers import column_matches

if TYPE_CHECKING:
    from airflow_snowflake_batch.backends.base import Column, ModelFunction, ModelVersionRef

# Type families: a feature of one family is fed by a column of the same family.
_FEATURE_FAMILY = {
    **dict.fromkeys(("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"), "integer"),
    **dict.fromkeys(("FLOAT", "DOUBLE"), "float"),
    "BOOL": "boolean",
    "STRING": "string",
    "BYTES": "binary",
    "TIMESTAMP_NTZ": "timestamp",
    "OBJECT": "semi-structured",
}

# SQL type names of Snowflake and DuckDB, by their leading word.
_SQL_FAMILY = [
    # DuckDB lists and arrays (INTEGER[], DOUBLE[3]) first: their element type must not decide.
    (r".*\[\d*\]", "semi-structured"),
    (
        r"(NUMBER|DECIMAL|NUMERIC)\(\s*\d+\s*,\s*0\s*\)|(TINY|SMALL|BIG|HUGE|U?)INT(EGER)?\d*|U?(TINY|SMALL|BIG|HUGE)INT|LONG|SHORT|BYTEINT",
        "integer",
    ),
    (r"NUMBER|DECIMAL|NUMERIC|FLOAT\d*|DOUBLE( PRECISION)?|REAL", "float"),
    (r"BOOL(EAN)?", "boolean"),
    (r"VARCHAR|CHAR(ACTER)?|STRING|TEXT|NVARCHAR\d*|NCHAR", "string"),
    (r"BINARY|VARBINARY|BLOB|BYTEA", "binary"),
    (r"TIMESTAMP\w*|DATETIME|DATE", "timestamp"),
    (r"VARIANT|OBJECT|ARRAY|MAP|STRUCT|LIST|JSON", "semi-structured"),
]


def sql_type_family(sql_type: str) -> str:
    """The family of a SQL column type (``NUMBER(38,0)`` → integer, ``VARCHAR`` → string...)."""
    text = sql_type.strip().upper()
    for pattern, family in _SQL_FAMILY:
        if re.match(rf"(?:{pattern})(?:\b|\(|$)", text):
            return family
    return "unknown"


def _accepts(feature_dtype: str, shape: tuple[int, ...] | None, column_family: str, strict: bool) -> bool:
    if shape or feature_dtype not in _FEATURE_FAMILY:
        return column_family in ("semi-structured", "unknown")
    wanted = _FEATURE_FAMILY[feature_dtype]
    if column_family in (wanted, "unknown"):
        return True
    # Snowflake casts integer columns to float features, and (unless strict) floats to integers.
    numeric = {"integer", "float"}
    if wanted in numeric and column_family in numeric:
        return not strict or (wanted == "float" and column_family == "integer")
    return False


def resolve_function(model: ModelVersionRef, function_name: str | None) -> ModelFunction:
    """The function to run: the one named (case-insensitively), or the only one the model has."""
    names = ", ".join(sorted(f.name for f in model.functions)) or "none"
    if function_name is None:
        if len(model.functions) == 1:
            return model.functions[0]
        raise FunctionResolutionError(
            f"Model {model.display} has {len(model.functions)} functions ({names}); "
            "pass function_name to choose one."
        )
    wanted = function_name.strip().strip('"').upper()
    for function in model.functions:
        if wanted in (function.name.upper(), function.target_method.upper()):
            return function
    raise FunctionResolutionError(
        f"Model {model.display} has no function {function_name!r}. Available functions: {names}."
    )


def check_input_columns(function: ModelFunction, columns: list[Column], *, strict: bool, where: str) -> None:
    """Every signature input has a column of a compatible type; the error lists every problem."""
    problems: list[str] = []
    for feature in function.inputs:
        column = next((c for c in columns if column_matches(feature.name, c.name)), None)
        if column is None:
            problems.append(f"missing column {feature.name!r} (type {feature.dtype})")
            continue
        family = sql_type_family(column.sql_type)
        if not _accepts(feature.dtype, feature.shape, family, strict):
            shape = f" with shape {list(feature.shape)}" if feature.shape else ""
            problems.append(
                f"column {column.name!r} has type {column.sql_type}, but feature {feature.name!r} "
                f"expects {feature.dtype}{shape}"
            )
    if problems:
        available = ", ".join(c.name for c in columns) or "none"
        raise InputValidationError(
            f"The {where} does not match the inputs of function {function.name}: "
            + "; ".join(problems)
            + f". Columns available: {available}."
        )


def check_params(function: ModelFunction, params: dict[str, Any]) -> None:
    """``params`` names only parameters the function declares."""
    known = {p.name.upper(): p for p in function.params}
    unknown = sorted(k for k in params if k.upper() not in known)
    if unknown:
        declared = ", ".join(sorted(p.name for p in function.params)) or "none"
        raise InputValidationError(
            f"Unknown params {unknown} for function {function.name}; the function declares: {declared}."
        )
