"""Inputs, expected scores and write helpers shared by the contract tests (the sides are in conftest.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
from contract_sides import MODEL, Side

OUTPUT = "PREDS"
JOB_FOLDER = "@OUT/jobs/JOB_1/"


def features(ids: range | list[int], *, day_offset: float = 0.0) -> pd.DataFrame:
    ids = list(ids)
    return pd.DataFrame(
        {
            "ID": pd.array(ids, dtype="int64"),
            "SEPAL_LENGTH": [1.0 + i / 4 + day_offset for i in ids],
            "SPECIES_CODE": pd.array([i % 3 for i in ids], dtype="int64"),
        }
    )


def scored(frame: pd.DataFrame) -> pd.DataFrame:
    """What the model writes next to the inputs: SCORE = 2 * SEPAL_LENGTH + SPECIES_CODE."""
    return frame.assign(SCORE=frame["SEPAL_LENGTH"] * 2 + frame["SPECIES_CODE"])


def _plain(value: Any) -> Any:
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value.item() if hasattr(value, "item") else value


def rows(frame: pd.DataFrame | None, columns: list[str] | None = None) -> list[tuple[Any, ...]]:
    """The rows of ``columns`` (all, by default), sorted, with numbers as floats and NULL as None."""
    assert frame is not None, "the table does not exist"
    columns = columns or list(frame.columns)
    values = [tuple(_plain(v) for v in row) for row in frame[columns].astype(object).itertuples(index=False)]
    return sorted(values, key=repr)


def warehouse(side: Side, *, source: dict[str, str] | None = None, **kwargs: Any) -> int:
    """Warehouse inference of the INPUT table (or ``source``) into PREDS; the rows written."""
    kwargs = {"model_name": MODEL, "version_name": None, "function_name": None, **kwargs}
    with side.hook() as hook:
        _, written, _ = hook.run_warehouse_inference(
            source=hook.input_source(**(source or {"input_table": "INPUT"})), output_table=OUTPUT, **kwargs
        )
    return written


def stage_job_output(
    side: Side, frame: pd.DataFrame | None, *, folder: str = JOB_FOLDER, success: bool = True
) -> None:
    """A job folder as a finished job leaves it: Parquet files (none for an empty input) and ``_SUCCESS``."""
    target = side.stage_dir(folder)
    target.mkdir(parents=True, exist_ok=True)
    if frame is not None:
        half = len(frame) // 2
        frame.iloc[:half].to_parquet(target / "data_0_0_0.parquet", index=False)
        frame.iloc[half:].to_parquet(target / "data_0_1_0.parquet", index=False)
    if success:
        (target / "_SUCCESS").write_bytes(b"")


def load(side: Side, *, folder: str = JOB_FOLDER, **kwargs: Any) -> int:
    with side.hook() as hook:
        _, loaded = hook.load_results(output_location=folder, target_table=OUTPUT, **kwargs)
    return loaded
