"""Checks of inputs against a model function's signature, shared by both backends.

They run in the hook before anything is submitted or written, so a bad input costs no compute and
gets the same error on Snowflake and on the local workspace.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.exceptions import FunctionResolutionError, InputValidationError
from airflow_snowflake_batch.identifiers import feature_column

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_snowflake_batch.backends.base import Column, Feature, ModelFunction, ModelVersionRef

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


def match_input_columns(
    function: ModelFunction, columns: list[Column], *, strict: bool, where: str
) -> dict[str, Column]:
    """The column feeding each signature input, by snowflake-ml's rule; the error lists every problem.

    As ``model_signature._validate_snowpark_data`` does, every feature is first looked up by its
    exact name; if any is missing or of the wrong type, every feature is looked up by its normalized
    (upper-case) name instead. One rule serves all features: ``"a"`` and ``B`` do not feed ``a, b``.
    """
    problems: dict[str, list[str]] = {}
    for rule, normalized in (("exact", False), ("normalized", True)):
        matched: dict[str, Column] = {}
        found: list[str] = []
        for feature in function.inputs:
            wanted = feature_column(feature.name, normalized=normalized)
            column = next((c for c in columns if c.name == wanted), None)
            if column is None:
                found.append(f"missing column {wanted or feature.name!r} (type {feature.dtype})")
            elif not _accepts(feature.dtype, feature.shape, sql_type_family(column.sql_type), strict):
                shape = f" with shape {list(feature.shape)}" if feature.shape else ""
                found.append(
                    f"column {column.name!r} has type {column.sql_type}, but feature {feature.name!r} "
                    f"expects {feature.dtype}{shape}"
                )
            else:
                matched[feature.name] = column
        if not found:
            return matched
        problems[rule] = found
    available = ", ".join(c.name for c in columns) or "none"
    raise InputValidationError(
        f"The {where} does not match the inputs of function {function.name}. snowflake-ml feeds every "
        "feature from the column of its exact name, or else every feature from the column of its "
        "normalized (upper-case) name, never a mix. By exact name: "
        + "; ".join(problems["exact"])
        + ". By normalized name: "
        + "; ".join(problems["normalized"])
        + f". Columns available: {available}."
    )


def check_output_columns(
    function: ModelFunction, columns: list[Column], partition: Mapping[str, object], *, where: str
) -> None:
    """No model output or partition column would replace an input column (or each other).

    ``ModelVersion.run()`` and batch jobs write the outputs next to the input columns, and a
    same-named input column (compared case-insensitively, as loads match Parquet columns) would be
    silently replaced, losing e.g. a join key.
    """
    taken = {c.name.upper(): f"input column {c.name!r}" for c in columns}
    clashes = []
    for feature in function.outputs:
        if (owner := taken.get(feature.name.upper())) is not None:
            clashes.append(f"model output {feature.name!r} would replace {owner}")
        taken.setdefault(feature.name.upper(), f"model output {feature.name!r}")
    for column in partition:
        if (owner := taken.get(column.upper())) is not None:
            clashes.append(f"output_partition column {column!r} would replace {owner}")
    if clashes:
        raise InputValidationError(
            f"The {where} cannot be scored by function {function.name}: "
            + "; ".join(clashes)
            + ". Rename the input column (e.g. in input_query) or choose another partition column."
        )


def cannot_hold_null(feature: Feature) -> bool:
    """Whether snowflake-ml casts the feature to a numpy type that has no NULL (``FeatureSpec.as_dtype``).

    A nullable feature becomes a pandas nullable type (``Int64``, ``boolean``...); a non-nullable
    integer or boolean one becomes ``int64``/``bool``, where a NULL fails (``IntCastingNaNError``)
    or silently turns into ``False``.
    """
    return (
        not feature.nullable
        and not feature.shape
        and _FEATURE_FAMILY.get(feature.dtype) in ("integer", "boolean")
    )


def check_nulls(
    function: ModelFunction, matched: Mapping[str, Column], null_counts: Mapping[str, int], *, where: str
) -> None:
    """No NULL in a column feeding a feature that cannot hold one (see :func:`cannot_hold_null`)."""
    problems = [
        f"column {column.name!r} has {null_counts[column.name]} NULL value(s), but feature {name!r} is a "
        f"non-nullable {feature.dtype}"
        for name, column in matched.items()
        if null_counts.get(column.name)
        for feature in function.inputs
        if feature.name == name
    ]
    if problems:
        raise InputValidationError(
            f"The {where} cannot be scored by function {function.name}: "
            + "; ".join(problems)
            + ". Filter or fill the NULLs (e.g. COALESCE in input_query), or log the model with nullable features."
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
