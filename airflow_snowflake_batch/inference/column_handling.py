"""``column_handling`` of file inputs: which columns hold stage paths, and what each turns into.

A batch job reads the file at each path of a ``column_handling`` column and hands the model its raw
bytes (a BYTES feature) or base64 text (a STRING feature): snowflake-ml's ``InputFormat`` and
``FileEncoding``. Whether the values are safe text for the job spec is
:func:`airflow_snowflake_batch.inference.spec_safety.check_column_handling_is_safe`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.backends.base import Column, InputSource
from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.inference.signature import feeds, file_column, sql_type_family

if TYPE_CHECKING:
    from airflow_snowflake_batch.backends.base import FileInput, ModelFunction

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
    # Keys are matched to columns whatever their case, so two keys differing only in case would name
    # one column twice, and the last would silently win.
    by_name: dict[str, list[str]] = {}
    for key in column_handling:
        by_name.setdefault(str(key).upper(), []).append(str(key))
    problems += [
        f"{keys!r} name one column in different case; give it once"
        for keys in by_name.values()
        if len(keys) > 1
    ]
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
        feature = next((f for f in function.inputs if feeds(f.name, column.name)), None)
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


def handling_value(handling: Mapping[str, Any], key: str) -> Any:
    """The value of ``key`` in one column's handling, whatever the key's case."""
    return next(v for k, v in handling.items() if str(k).lower() == key)


def file_source(
    function: ModelFunction, files: FileInput, handling: Mapping[str, Any]
) -> tuple[InputSource, dict[str, Any]]:
    """The source of a folder of files, its paths in the column of the model's file feature, and the
    handling that turns each path into what the feature takes (BYTES: raw bytes, STRING: base64),
    unless ``column_handling`` already says how."""
    feature = file_column(function, files.column or None, where=f"input files {files.location.sql}")
    handling = dict(handling)
    if not any(str(key).upper() == feature.name.upper() for key in handling):
        encoding = "raw_bytes" if feature.dtype == "BYTES" else "base64"
        handling[feature.name] = {"input_format": "full_stage_path", "convert_to": encoding}
    return InputSource(files=replace(files, column=feature.name)), handling
