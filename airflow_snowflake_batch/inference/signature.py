"""Input columns against a model function's signature: snowflake-ml's naming rule, types, NULLs, params.

These checks run in the hook before anything is submitted or written, so a bad input costs no compute
and gets the same error on Snowflake and on the local workspace. They take the signature and the
columns as plain values (:mod:`airflow_snowflake_batch.backends.base`); the hook does the I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.exceptions import FunctionResolutionError, InputValidationError
from airflow_snowflake_batch.identifiers import feature_column
from airflow_snowflake_batch.inference import spec_safety

if TYPE_CHECKING:
    from airflow_snowflake_batch.backends.base import Column, Feature, ModelFunction, ModelVersionRef

# Type families: a feature of one family is fed by a column of the same family.
FEATURE_FAMILY = {
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
    if shape or feature_dtype not in FEATURE_FAMILY:
        return column_family in ("semi-structured", "unknown")
    wanted = FEATURE_FAMILY[feature_dtype]
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
    function: ModelFunction,
    columns: list[Column],
    *,
    strict: bool,
    where: str,
    converted: Mapping[str, str] | None = None,
    json_text: bool = False,
) -> dict[str, Column]:
    """The column feeding each signature input, by snowflake-ml's rule; the error lists every problem.

    As ``model_signature._validate_snowpark_data`` does, every feature is first looked up by its
    exact name; if any is missing or of the wrong type, every feature is looked up by its normalized
    (upper-case) name instead. One rule serves all features: ``"a"`` and ``B`` do not feed ``a, b``.

    :param converted: Columns the job converts before the model sees them (``column_handling``): column
        name → the feature type of the converted value (``BYTES`` for raw bytes, ``STRING`` for base64).
        Their own type is checked by :func:`check_column_handling`; here the converted value counts.
    :param json_text: A batch job parses VARCHAR JSON text into structured values (the chat ``MESSAGES``),
        so a string column may feed a semi-structured feature; ``ModelVersion.run()`` does not.
    """
    converted_by_name = {name.upper(): dtype for name, dtype in (converted or {}).items()}

    def family(column: Column) -> str:
        if column.name.upper() in converted_by_name:
            return FEATURE_FAMILY[converted_by_name[column.name.upper()]]
        return sql_type_family(column.sql_type)

    def fits(feature: Feature, column: Column) -> bool:
        if json_text and family(column) == "string" and (feature.shape or feature.dtype == "OBJECT"):
            return True
        return _accepts(feature.dtype, feature.shape, family(column), strict)

    problems: dict[str, list[str]] = {}
    for rule, normalized in (("exact", False), ("normalized", True)):
        matched: dict[str, Column] = {}
        found: list[str] = []
        for feature in function.inputs:
            wanted = feature_column(feature.name, normalized=normalized)
            column = next((c for c in columns if c.name == wanted), None)
            if column is None:
                found.append(f"missing column {wanted or feature.name!r} (type {feature.dtype})")
            elif not fits(feature, column):
                shape = f" with shape {list(feature.shape)}" if feature.shape else ""
                hint = ""
                if family(column) == "string" and feature.dtype == "OBJECT":
                    hint = " (JSON text is parsed by batch jobs only: use PARSE_JSON(...) for warehouse inference)"
                found.append(
                    f"column {column.name!r} has type {column.sql_type}, but feature {feature.name!r} "
                    f"expects {feature.dtype}{shape}{hint}"
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
        and FEATURE_FAMILY.get(feature.dtype) in ("integer", "boolean")
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


def feeds(feature_name: str, column_name: str) -> bool:
    """Whether the column feeds the feature under either of snowflake-ml's rules (exact or normalized)."""
    return column_name in (
        feature_column(feature_name, normalized=False),
        feature_column(feature_name, normalized=True),
    )


def check_params(function: ModelFunction, params: dict[str, Any]) -> None:
    """``params`` name parameters the function declares, with values of their types and shapes.

    The rules are snowflake-ml's own (``param_ops.validate_params``, which the batch inference image
    also runs), applied to the specs rebuilt from the signature, so a bad value fails before submit.
    """
    known = {p.name.upper(): p for p in function.params}
    unknown = sorted(k for k in params if k.upper() not in known)
    if unknown:
        declared = ", ".join(sorted(p.name for p in function.params)) or "none"
        raise InputValidationError(
            f"Unknown params {unknown} for function {function.name}; the function declares: {declared}."
        )
    specs = [p.spec for p in function.params if p.spec]
    if not params or len(specs) != len(function.params):
        return
    validate = spec_safety.param_validator(specs)
    for name, value in params.items():  # one at a time, so the error names the param
        try:
            validate(name, value)
        except (ValueError, TypeError) as exc:
            spec = known[name.upper()]
            raise InputValidationError(
                f"params[{name!r}] = {value!r} does not fit parameter {spec.name} ({spec.dtype}) of function "
                f"{function.name}: {exc}"
            ) from exc


def file_column(function: ModelFunction, wanted: str | None, *, where: str) -> Feature:
    """The feature a folder of files feeds: the one named ``wanted``, else the only BYTES or STRING input."""
    candidates = [f for f in function.inputs if f.dtype in ("BYTES", "STRING") and not f.shape]
    if wanted:
        feature = next((f for f in function.inputs if feeds(f.name, wanted) or f.name == wanted), None)
        if feature is None:
            raise InputValidationError(
                f"file_column {wanted!r} is not an input of function {function.name}; its inputs: "
                f"{', '.join(f.name for f in function.inputs) or 'none'}."
            )
        if feature not in candidates:
            raise InputValidationError(
                f"file_column {wanted!r} feeds feature {feature.name!r} of type {feature.dtype}; files "
                "can feed only a BYTES (raw bytes) or STRING (base64) feature."
            )
        return feature
    if len(candidates) != 1:
        names = ", ".join(f"{f.name} ({f.dtype})" for f in candidates) or "none"
        raise InputValidationError(
            f"Cannot tell which input of function {function.name} the {where} feed: it has "
            f"{len(candidates)} BYTES or STRING inputs ({names}). Pass file_column to name it."
        )
    return candidates[0]
