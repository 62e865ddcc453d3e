"""Checks of inputs against a model function's signature, shared by both backends.

They run in the hook before anything is submitted or written, so a bad input costs no compute and
gets the same error on Snowflake and on the local workspace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.backends.base import Column
from airflow_snowflake_batch.exceptions import FunctionResolutionError, InputValidationError
from airflow_snowflake_batch.identifiers import feature_column

if TYPE_CHECKING:
    from airflow_snowflake_batch.backends.base import Feature, ModelFunction, ModelVersionRef

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
            return _FEATURE_FAMILY[converted_by_name[column.name.upper()]]
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


# column_handling values (snowflake-ml's InputFormat and FileEncoding), and the feature type each
# encoding hands the model.
INPUT_FORMATS = ("full_stage_path",)
ENCODED_TYPES = {"raw_bytes": "BYTES", "base64": "STRING", "base64_data_url": "STRING"}
_HANDLING_KEYS = ("input_format", "convert_to")


def check_column_handling(
    function: ModelFunction,
    columns: list[Column] | None,
    column_handling: Mapping[str, Any],
    *,
    where: str,
) -> dict[str, dict[str, str]]:
    """Check what ``column_handling`` means before a job is submitted; return it normalized.

    Each key is a column of the input holding stage paths; ``input_format`` and ``convert_to`` are
    known values (any case: they are returned lower-case, as snowflake-ml's enums spell them); and the
    converted value is of the type of the feature the column feeds (raw bytes → BYTES, base64 → STRING).
    The error lists every problem. ``columns`` None (Parquet files the job reads itself): each key
    is taken as the column's name, its existence and type unchecked.
    """
    problems: list[str] = []
    normalized: dict[str, dict[str, str]] = {}
    for key, handling in column_handling.items():
        if not isinstance(handling, Mapping):
            problems.append(
                f"{key!r}: expected a mapping like {{'input_format': 'full_stage_path', "
                f"'convert_to': 'raw_bytes'}}, got {type(handling).__name__}"
            )
            continue
        unknown = sorted(str(k) for k in handling if str(k).lower() not in _HANDLING_KEYS)
        missing = [k for k in _HANDLING_KEYS if k not in {str(h).lower() for h in handling}]
        if unknown or missing:
            problems.append(
                f"{key!r}: expected exactly the keys input_format and convert_to"
                + (f"; unknown {unknown}" if unknown else "")
                + (f"; missing {missing}" if missing else "")
            )
            continue
        values = {str(k).lower(): str(v).strip().lower() for k, v in handling.items()}
        if values["input_format"] not in INPUT_FORMATS:
            problems.append(
                f"{key!r}: unknown input_format {handling_value(handling, 'input_format')!r}, "
                f"expected one of {', '.join(INPUT_FORMATS)}"
            )
        if values["convert_to"] not in ENCODED_TYPES:
            problems.append(
                f"{key!r}: unknown convert_to {handling_value(handling, 'convert_to')!r}, "
                f"expected one of {', '.join(ENCODED_TYPES)}"
            )
        if columns is None:
            column: Column | None = Column(name=str(key), sql_type="unknown")
        else:
            column = next((c for c in columns if c.name == key or c.name.upper() == str(key).upper()), None)
        if column is None:
            problems.append(f"{key!r}: the input has no such column")
            continue
        if sql_type_family(column.sql_type) not in ("string", "unknown"):
            problems.append(
                f"{key!r}: column {column.name!r} has type {column.sql_type}, but full stage paths are text"
            )
        wanted = ENCODED_TYPES.get(values["convert_to"])
        feature = next((f for f in function.inputs if _feeds(f.name, column.name)), None)
        if wanted and feature is not None and feature.dtype != wanted:
            fitting = [e for e, t in ENCODED_TYPES.items() if t == feature.dtype]
            problems.append(
                f"{key!r}: convert_to {values['convert_to']!r} gives {wanted}, but feature {feature.name!r} "
                f"expects {feature.dtype}"
                + (f" (use convert_to {' or '.join(repr(e) for e in fitting)})" if fitting else "")
            )
        normalized[column.name] = values
    if problems:
        raise InputValidationError(
            f"column_handling does not fit the {where} and function {function.name}: "
            + "; ".join(problems)
            + "."
        )
    return normalized


def _feeds(feature_name: str, column_name: str) -> bool:
    """Whether the column feeds the feature under either of snowflake-ml's rules (exact or normalized)."""
    return column_name in (
        feature_column(feature_name, normalized=False),
        feature_column(feature_name, normalized=True),
    )


def handling_value(handling: Mapping[str, Any], key: str) -> Any:
    """The value of ``key`` in one column's handling, whatever the key's case."""
    return next(v for k, v in handling.items() if str(k).lower() == key)


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
    from snowflake.ml.model._client.ops import param_ops
    from snowflake.ml.model._signatures import core

    rebuilt = [
        core.ParamGroupSpec.from_dict(s) if "specs" in s else core.ParamSpec.from_dict(s) for s in specs
    ]
    for name, value in params.items():  # one at a time, so the error names the param
        try:
            param_ops.validate_params({name: value}, rebuilt)
        except (ValueError, TypeError) as exc:
            spec = known[name.upper()]
            raise InputValidationError(
                f"params[{name!r}] = {value!r} does not fit parameter {spec.name} ({spec.dtype}) of function "
                f"{function.name}: {exc}"
            ) from exc


def file_pattern(pattern: str | None) -> str | None:
    """A ``file_pattern`` that is a valid regular expression (None or empty: every file)."""
    if not pattern:
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InputValidationError(
            f"file_pattern {pattern!r} is not a valid regular expression ({exc}); expected e.g. r'.*\\.png'."
        ) from exc
    return pattern


def file_column(function: ModelFunction, wanted: str | None, *, where: str) -> Feature:
    """The feature a folder of files feeds: the one named ``wanted``, else the only BYTES or STRING input."""
    candidates = [f for f in function.inputs if f.dtype in ("BYTES", "STRING") and not f.shape]
    if wanted:
        feature = next((f for f in function.inputs if _feeds(f.name, wanted) or f.name == wanted), None)
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


# -- values that reach SQL text or a job specification -------------------------------------------

# What an input_query may contain besides one query: nothing that writes, changes the session or
# runs a command. sqlglot parses unknown statements as Command, which is refused too.
_NOT_READ_ONLY = (
    "DML",
    "DDL",
    "Command",
    "Copy",
    "Into",
    "Set",
    "Use",
    "Transaction",
    "Commit",
    "Rollback",
    "Pragma",
    "Merge",
    "Alter",
    "Drop",
    "Create",
)


def check_input_query(query: str) -> str:
    """``input_query`` as one read-only query (a trailing ``;`` dropped), or an error naming it.

    The text reaches ``session.sql()`` on Snowflake and DuckDB locally, both of which would run every
    statement of a stacked ``SELECT ...; DROP TABLE ...``. It is parsed with sqlglot's Snowflake
    dialect, so the check is the same on both backends and runs before anything else.

    >>> check_input_query("SELECT * FROM ML.PUBLIC.T;")
    'SELECT * FROM ML.PUBLIC.T'
    """
    import sqlglot
    from sqlglot import exp

    text = query.strip() if isinstance(query, str) else ""
    expected = "exactly one read-only query (SELECT ..., WITH ... SELECT ..., or set operations of them)"
    try:
        # A comment after the last ";" parses as a bare Semicolon: not a statement.
        statements = [
            s
            for s in sqlglot.parse(text, read="snowflake")
            if s is not None and not isinstance(s, exp.Semicolon)
        ]
    except sqlglot.errors.SqlglotError as exc:
        raise InputValidationError(
            f"input_query cannot be parsed as Snowflake SQL ({str(exc).splitlines()[0]}): expected {expected}. "
            "If it is valid Snowflake SQL, wrap it in a view and pass input_table instead."
        ) from exc
    if len(statements) != 1:
        raise InputValidationError(
            f"input_query holds {len(statements)} statements: expected {expected}. "
            "Remove the extra statements (and any ';' between them)."
        )
    statement = statements[0]
    forbidden = tuple(getattr(exp, name) for name in _NOT_READ_ONLY if hasattr(exp, name))
    offending = next((node for node in statement.walk() if isinstance(node, forbidden)), None)
    if not isinstance(statement, (exp.Query, exp.Subquery)) or offending is not None:
        kind = type(offending or statement).__name__.upper()
        raise InputValidationError(
            f"input_query is a {kind} statement or holds one: expected {expected}. "
            "Batch inference only reads its input; run other statements in a separate task."
        )
    return text.rstrip(";").rstrip()


# The characters a value may use when it is embedded in a SQL string literal or the job
# specification: snowflake-ml escapes single quotes there but not backslashes, and the YAML it
# writes escapes non-printable and non-ASCII characters with backslashes, which the literal then
# decodes. Printable ASCII without a backslash reaches Snowflake exactly as given.
_LITERAL_SAFE = re.compile(r"[\x20-\x5b\x5d-\x7e]*")
_LITERAL_EXPECTED = (
    "printable ASCII characters other than '\\' (the value is embedded in a SQL string literal, "
    "which snowflake-ml does not escape for backslashes)"
)
# Snowflake's quantity syntax for SPCS resources (as Kubernetes): CPU "1", "0.5" or "500m"; memory
# bytes with an optional decimal or binary suffix ("512Mi", "8Gi", "2G"); GPU a whole number.
_RESOURCE_SYNTAX = {
    "cpu_requests": (re.compile(r"\d+(\.\d+)?|\d+m"), 'a CPU quantity like "1", "0.5" or "500m"'),
    "memory_requests": (
        re.compile(r"\d+(\.\d+)?([KMGTPE]i?)?"),
        'a memory quantity like "512Mi", "8Gi" or "2G"',
    ),
    "gpu_requests": (re.compile(r"\d+"), 'a whole number of GPUs like "1"'),
}


def check_literal_text(value: object, what: str) -> str:
    """``value`` if it is a string that stays inside a SQL literal or the job spec; else an error naming ``what``."""
    if not isinstance(value, str) or not _LITERAL_SAFE.fullmatch(value):
        raise InputValidationError(f"Invalid {what} {value!r}: expected {_LITERAL_EXPECTED}.")
    return value


def check_param_values(params: dict[str, Any], *, what: str = "params") -> None:
    """Every string in ``params`` (nested ones and dict keys too) stays inside its SQL literal.

    snowflake-ml formats warehouse params into SQL (``format_param_value_for_sql``: strings escape
    only single quotes, dict keys and list items are not escaped at all) and job params into the
    job spec; so strings are limited to safe characters, and nested ones also lose quotes.
    """

    def visit(value: Any, path: str, nested: bool) -> None:
        if isinstance(value, str):
            check_literal_text(value, path)
            if nested and ("'" in value or '"' in value):
                raise InputValidationError(
                    f"Invalid {path} {value!r}: strings inside lists and dicts of params cannot hold quotes "
                    "(snowflake-ml writes them into SQL unescaped)."
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(key, f"{path} key", True)
                visit(item, f"{path}[{key!r}]", True)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(item, f"{path}[{index}]", True)

    for name, value in params.items():
        visit(name, f"{what} name", False)
        visit(value, f"{what}[{name!r}]", False)


def check_resources(resources: dict[str, str | None]) -> None:
    """``cpu_requests``/``memory_requests``/``gpu_requests`` in Snowflake's quantity syntax."""
    for key, value in resources.items():
        if value is None:
            continue
        pattern, expected = _RESOURCE_SYNTAX[key]
        if not isinstance(value, str) or not pattern.fullmatch(value):
            argument = "resources['" + key.removesuffix("_requests") + "']"
            raise InputValidationError(f"Invalid {argument} {value!r}: expected {expected}.")


def check_column_handling_is_safe(column_handling: dict[str, dict[str, str]]) -> None:
    """``column_handling`` cannot break out of the job spec: its keys and values are safe text.

    Which columns it may name, and which values mean something, is :func:`check_column_handling`'s.
    """
    if not isinstance(column_handling, dict):
        raise InputValidationError(
            f"Invalid column_handling {column_handling!r}: expected a dict of column name to options."
        )
    for key, options in column_handling.items():
        check_literal_text(key, "column_handling key")
        if not isinstance(options, dict):
            raise InputValidationError(
                f"Invalid column_handling[{key!r}] {options!r}: expected a dict like "
                '{"input_format": "full_stage_path", "convert_to": "base64"}.'
            )
        for option, value in options.items():
            check_literal_text(option, f"column_handling[{key!r}] option")
            check_literal_text(value, f"column_handling[{key!r}][{option!r}]")
