"""Demo data and model shared by ``scripts/demo.py`` and the end-to-end tests.

A churn-risk regressor over three customer features, and daily snapshots of those features. Both are
deterministic for a given seed, so a test can recompute the expected scores with the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

DATABASE, SCHEMA = "ML", "PUBLIC"
FEATURES_TABLE = "ML.PUBLIC.CUSTOMER_FEATURES"
MODEL_NAME, MODEL_VERSION = "ML.PUBLIC.CHURN_RISK", "V1"
OUTPUT_STAGE = "ML.PUBLIC.BATCH_OUTPUT"
FEATURE_COLUMNS = ("TENURE_MONTHS", "MONTHLY_CHARGES", "SUPPORT_CALLS")


def _feature_frame(rows: int, rng: Any) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "TENURE_MONTHS": rng.integers(1, 72, rows),
            "MONTHLY_CHARGES": rng.uniform(15.0, 120.0, rows).round(2),
            "SUPPORT_CALLS": rng.integers(0, 9, rows),
        }
    )


def train_churn_model(seed: int = 7) -> Any:
    """A small scikit-learn regressor scoring churn risk (about 0 to 1) from the three features."""
    import numpy as np
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(seed)
    x = _feature_frame(2000, rng)
    logit = 0.6 * x["SUPPORT_CALLS"] - 0.08 * x["TENURE_MONTHS"] + 0.02 * x["MONTHLY_CHARGES"] - 1.0
    y = 1 / (1 + np.exp(-logit)) + rng.normal(0, 0.05, len(x))
    return GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=seed).fit(x, y.clip(0, 1))


def customer_features(days: Sequence[str], rows_per_day: Sequence[int], seed: int = 11) -> pd.DataFrame:
    """Daily snapshots of ``CUSTOMER_ID``, ``FEATURE_DATE`` and the features.

    :param days: ``YYYY-MM-DD`` dates.
    :param rows_per_day: how many customers each day has (ids 1001, 1002, ...).
    :param seed: seed of the random feature values.
    """
    import datetime as dt

    import numpy as np
    import pandas as pd

    if len(days) != len(rows_per_day):
        raise ValueError(f"Give one row count per day: {len(days)} days, {len(rows_per_day)} counts.")
    rng = np.random.default_rng(seed)
    frames = []
    for day, rows in zip(days, rows_per_day, strict=True):
        frame = _feature_frame(rows, rng)
        frame.insert(0, "FEATURE_DATE", dt.date.fromisoformat(day))
        frame.insert(0, "CUSTOMER_ID", np.arange(1001, 1001 + rows))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def seed_workspace(workspace: Any, features: pd.DataFrame, model: Any) -> None:
    """Write the features table, register the model as ``CHURN_RISK`` ``V1``, create the output stage.

    :param workspace: an ``airflow_snowflake_batch.local.LocalWorkspace``.
    """
    workspace.write_table(FEATURES_TABLE, features, mode="overwrite")
    workspace.log_model(
        model,
        model_name=MODEL_NAME,
        version_name=MODEL_VERSION,
        sample_input_data=features[list(FEATURE_COLUMNS)].head(20),
    )
    workspace.create_stage(OUTPUT_STAGE, encryption="SNOWFLAKE_SSE")
