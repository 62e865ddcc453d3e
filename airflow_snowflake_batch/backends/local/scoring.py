"""Run one model function over Arrow batches, as Snowflake's generated inference code does.

Snowflake's UDF wrapper (``_model_composer/model_method/infer_function.py_template``) renames the
input columns to the signature's feature names, casts them to the features' types, calls the target
method with the inference params as keyword arguments (defaults filled from the ``ParamSpec``\\s) and
names the outputs after the signature. This module does the same, so a local score equals a
Snowflake score. It imports no snowflake-ml module itself: only unpickling a ``CustomModel`` does.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.identifiers import feature_column

# snowflake.ml.model.model_signature.DataType names → numpy dtypes (DataType._numpy_type).
_NUMPY = {
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "FLOAT": np.float32, "DOUBLE": np.float64, "BOOL": np.bool_,
    "STRING": np.str_, "BYTES": np.bytes_, "TIMESTAMP_NTZ": "datetime64[ns]",
}  # fmt: skip
# snowflake-ml's FeatureSpec.as_dtype() for nullable features (tests compare the two).
_PANDAS_NULLABLE = {
    "INT8": "Int8", "INT16": "Int16", "INT32": "Int32", "INT64": "Int64",
    "UINT8": "UInt8", "UINT16": "UInt16", "UINT32": "UInt32", "UINT64": "UInt64",
    "FLOAT": "Float32", "DOUBLE": "Float64", "BOOL": "boolean", "STRING": "string",
}  # fmt: skip
_ARROW = {
    "INT8": pa.int8(), "INT16": pa.int16(), "INT32": pa.int32(), "INT64": pa.int64(),
    "UINT8": pa.uint8(), "UINT16": pa.uint16(), "UINT32": pa.uint32(), "UINT64": pa.uint64(),
    "FLOAT": pa.float32(), "DOUBLE": pa.float64(), "BOOL": pa.bool_(),
    "STRING": pa.string(), "BYTES": pa.binary(), "TIMESTAMP_NTZ": pa.timestamp("ns"),
}  # fmt: skip


@dataclass(frozen=True)
class LoadedFunction:
    """A model method with its signature (dicts as ``FeatureSpec.to_dict()``/``ParamSpec.to_dict()``)."""

    model: Any
    target_method: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    params: list[dict[str, Any]]

    @property
    def input_names(self) -> list[str]:
        return [f["name"] for f in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [f["name"] for f in self.outputs]

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the method: given values (names case-insensitive), else defaults.

        As snowflake-ml's inference code does, a given scalar value is cast to its param's numpy type
        (``10`` for a DOUBLE param arrives as ``np.float64(10.0)``); defaults arrive as declared.
        """
        by_upper = {k.upper(): v for k, v in given.items()}
        resolved = {}
        for spec in self.params:
            value = by_upper.get(spec["name"].upper())
            cast = _NUMPY.get(spec.get("dtype", "")) if spec.get("shape") is None else None
            if value is None:
                resolved[spec["name"]] = spec.get("default_value")
            else:
                resolved[spec["name"]] = cast(value) if callable(cast) else value
        unknown = sorted(set(by_upper) - {p["name"].upper() for p in self.params})
        if unknown:
            declared = ", ".join(p["name"] for p in self.params) or "none"
            raise InputValidationError(
                f"Unknown params {unknown} for {self.target_method}; it declares: {declared}."
            )
        return resolved

    def run(self, features: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
        """Score a frame whose columns are the signature's inputs, in order; outputs as in the signature."""
        # Columns already of their dtype (typed_column built them from Arrow) are not cast again.
        typed = features.astype(
            {
                f["name"]: input_dtype(f)
                for f in self.inputs
                if features[f["name"]].dtype != pd.api.types.pandas_dtype(input_dtype(f))
            }
        )
        for feature in self.inputs:
            if "specs" in feature or feature.get("type") == "OBJECT":
                # Structured values reach the model parsed, as Snowflake hands ARRAY/OBJECT columns.
                typed[feature["name"]] = typed[feature["name"]].map(_structured)
        method: Callable[..., Any] = getattr(self.model, self.target_method)
        result = method(typed, **params)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return _name_outputs(result, self.output_names, len(typed))


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _structured(value: Any) -> Any:
    from airflow_snowflake_batch.backends.local.media import structured

    return None if value is None else structured(value)


def input_dtype(feature: dict[str, Any]) -> Any:
    """The dtype the model sees a feature in, as snowflake-ml's inference code casts it in Snowflake
    (``input_df.astype(FeatureSpec.as_dtype())``): a nullable scalar feature (the default) becomes a
    pandas nullable type (``Float64``, ``Int64``, ``boolean``, ``string``), where a NULL is ``pd.NA``;
    a non-nullable one its numpy type.

    One deliberate difference: BYTES stay Python bytes, since numpy's fixed-width bytes dtype drops
    trailing NUL bytes, which would corrupt binary files (a WAV ending in silence) handed over with
    ``convert_to="raw_bytes"``.
    """
    dtype = feature.get("type")
    if feature.get("shape") or dtype not in _NUMPY or dtype == "BYTES":
        return object
    if feature.get("nullable", True) and dtype in _PANDAS_NULLABLE:
        return _PANDAS_NULLABLE[dtype]
    return _NUMPY[dtype]


def _name_outputs(result: Any, names: list[str], rows: int) -> pd.DataFrame:
    if isinstance(result, list) and result and isinstance(result[0], np.ndarray):
        raise TypeError(
            "Models returning a list of arrays (multi-output estimators) are not supported locally."
        )
    frame = result if isinstance(result, pd.DataFrame) else pd.DataFrame(result)
    if len(frame) != rows:
        raise ValueError(f"The model returned {len(frame)} rows for {rows} input rows.")
    if all(name in frame.columns for name in names):
        return frame[names].reset_index(drop=True)
    if frame.shape[1] != len(names):
        raise ValueError(
            f"The model returned columns {list(frame.columns)}, but its signature declares outputs {names}."
        )
    frame = frame.reset_index(drop=True)
    frame.columns = names
    return frame


def arrow_type(feature: dict[str, Any]) -> pa.DataType | None:
    """The Arrow type of an output feature (None: let Arrow infer it)."""
    base = _ARROW.get(feature.get("type", ""))
    if base is None:
        return None
    for _ in feature.get("shape") or ():
        base = pa.list_(base)
    return base


def map_features(feature_names: list[str], columns: list[str], *, where: str) -> tuple[list[str], bool]:
    """The column feeding each feature, and whether every match was exact (Snowflake's INFERRED rule).

    As ``model_signature._validate_snowpark_data``: every feature by its exact name, or else every
    feature by its normalized name, never a mix (see :func:`~airflow_snowflake_batch.identifiers.feature_column`).
    """
    missing: list[str] = []
    for normalized in (False, True):
        wanted = [feature_column(name, normalized=normalized) for name in feature_names]
        missing = [n for n, w in zip(feature_names, wanted, strict=True) if w is None or w not in columns]
        if not missing:
            return [w for w in wanted if w is not None], not normalized
    raise InputValidationError(
        f"The {where} has no column for feature(s) {missing} by their exact names, nor for every feature "
        f"by its normalized (upper-case) name. Columns available: {', '.join(columns) or 'none'}."
    )


def output_column_names(function: LoadedFunction) -> list[str]:
    """Output columns of a table: upper-case signature names, as on the Snowflake backend
    (:func:`~airflow_snowflake_batch.backends.base.output_column`)."""
    from airflow_snowflake_batch.backends.base import output_column

    return [output_column(name) for name in function.output_names]


def score_batch(
    batch: pa.RecordBatch,
    function: LoadedFunction,
    *,
    feature_columns: list[str],
    output_names: list[str],
    params: dict[str, Any],
    converters: dict[str, Callable[[Any], Any]] | None = None,
    first_row: int = 0,
    where: str = "the input",
) -> pa.Table:
    """The batch's columns followed by the model's outputs (an input column named like an output is
    replaced by it, as ``ModelVersion.run()`` does).

    ``first_row`` (the batch's first row within ``where``, counted from 0) lets a value a converter
    refuses be named by its column and row.
    """
    converters = converters or {}
    columns: dict[str, Any] = {}
    for feature, col in zip(function.inputs, feature_columns, strict=True):
        typed = None if col in converters else typed_column(batch.column(col), feature)
        if typed is not None:
            columns[feature["name"]] = typed
            continue
        values = batch.column(col).to_pandas()
        if col in converters:
            values = _convert_column(values, col, converters[col], first_row, where)
        columns[feature["name"]] = values.to_numpy()
    features = pd.DataFrame(columns)
    outputs = function.run(features, params)
    table = pa.Table.from_batches([batch])
    taken = {n.upper() for n in output_names}
    keep = [name for name in table.column_names if name.upper() not in taken]
    arrays = [table.column(name) for name in keep]
    for spec, source in zip(function.outputs, outputs.columns, strict=True):
        arrays.append(_to_arrow(outputs[source], arrow_type(spec)))
    return pa.Table.from_arrays(arrays, names=[*keep, *output_names])


def typed_column(values: pa.Array, feature: dict[str, Any]) -> pd.Series | None:
    """A column in its feature's nullable pandas dtype (``Float64``, ``Int64``, ``boolean``), made by
    Arrow without a Python step per value; None when :meth:`LoadedFunction.run`'s ``astype`` must do it.

    ``astype("Float64")`` of a float64 column costs ~0.35 s per 131,072 rows × 8 columns, most of a
    job's scoring time; Arrow builds the same array (values, and a mask where the column is NULL) in
    milliseconds. Other types, and values Arrow cannot cast safely (``1.5`` to an integer feature),
    take the ``astype`` path, so the model sees what it did before and errors read the same.
    """
    dtype = feature.get("type")
    if feature.get("shape") or not feature.get("nullable", True) or dtype not in _PANDAS_NULLABLE:
        return None
    wanted = _ARROW[dtype]
    if not (pa.types.is_integer(wanted) or pa.types.is_floating(wanted) or pa.types.is_boolean(wanted)):
        return None
    if values.type != wanted:
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
            return None
        try:
            values = values.cast(wanted)  # a safe cast: refuses truncation and overflow
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    if pa.types.is_floating(wanted):
        import pyarrow.compute as pc

        # NaN reaches the model as NA, as through pandas (which cannot tell NaN from NULL).
        values = pc.if_else(pc.is_nan(values), pa.scalar(None, wanted), values)
    nullable = pd.api.types.pandas_dtype(_PANDAS_NULLABLE[dtype])
    return values.to_pandas(types_mapper={wanted: nullable}.get)


def _convert_column(
    values: pd.Series, column: str, convert: Callable[[Any], Any], first_row: int, where: str
) -> pd.Series:
    """``values.map(convert)``, but a failure names the column and row: in a job over millions of rows,
    "Expecting value: line 1 column 1" alone cannot be traced to the bad cell."""
    converted = []
    for offset, value in enumerate(values):
        try:
            converted.append(convert(value))
        except Exception as exc:
            raise ValueError(
                f"Column {column!r}, row {first_row + offset + 1} of {where} (counting from 1): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return pd.Series(converted, index=values.index, dtype=object)


def scored_schema(input_schema: pa.Schema, function: LoadedFunction, output_names: list[str]) -> pa.Schema:
    """The schema :func:`score_batch` produces, without running the model (for empty inputs)."""
    taken = {n.upper() for n in output_names}
    fields = [f for f in input_schema if f.name.upper() not in taken]
    fields += [
        pa.field(n, arrow_type(s) or pa.string()) for s, n in zip(function.outputs, output_names, strict=True)
    ]
    return pa.schema(fields)


def _to_arrow(values: pd.Series, wanted: pa.DataType | None) -> pa.Array:
    if wanted is not None:
        try:
            return pa.array(values, type=wanted, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            pass
    return pa.array(values, from_pandas=True)


def parquet_writer(path: Path, schema: pa.Schema) -> Any:
    """A Parquet writer for scored rows, without dictionary encoding of floating-point columns.

    Model outputs and features are mostly distinct floats, for which a dictionary never pays: trying
    one made writing 1M scored rows ~9x slower (4.8 s instead of 0.56 s) than plain encoding.
    """
    import pyarrow.parquet as pq

    dictionary = [f.name for f in schema if not pa.types.is_floating(f.type)]
    return pq.ParquetWriter(path, schema, use_dictionary=dictionary)
