"""The model every contract test scores with, and its signature.

No ``from __future__ import annotations`` here: snowflake-ml checks that inference methods are
annotated with the ``pandas.DataFrame`` class itself, not a string.
"""

import pandas as pd
from snowflake.ml.model import custom_model


class Scorer(custom_model.CustomModel):
    """SCORE = 2 * sepal_length + species_code; a negative sepal_length fails, as a broken model would."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        if (X["sepal_length"] < 0).any():
            raise ValueError("negative sepal length: the model cannot score this row")
        return pd.DataFrame({"SCORE": X["sepal_length"] * 2 + X["species_code"]})


class ScorerV2(custom_model.CustomModel):
    """A retrained Scorer: SCORE = 3 * sepal_length + species_code (same signature)."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"SCORE": X["sepal_length"] * 3 + X["species_code"]})


def signature():
    """Lower-case features (fed by upper-case columns through the normalized rule); ``species_code``
    is a non-nullable INT64, so a NULL in its column cannot be scored."""
    from snowflake.ml.model import model_signature as ms

    return ms.ModelSignature(
        inputs=[
            ms.FeatureSpec("sepal_length", ms.DataType.DOUBLE),
            ms.FeatureSpec("species_code", ms.DataType.INT64, nullable=False),
        ],
        outputs=[ms.FeatureSpec("SCORE", ms.DataType.DOUBLE)],
    )


class NullAware(custom_model.CustomModel):
    """MISSING = whether VISITS is NULL, as the model receives it."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"MISSING": X["VISITS"].isna()})


def null_aware_signature():
    """A nullable INT64 feature (snowflake-ml's default): a NULL in its column is scored, not refused."""
    from snowflake.ml.model import model_signature as ms

    return ms.ModelSignature(
        inputs=[ms.FeatureSpec("VISITS", ms.DataType.INT64)],
        outputs=[ms.FeatureSpec("MISSING", ms.DataType.BOOL)],
    )


class FileDigest(custom_model.CustomModel):
    """SHA = the SHA-256 of the bytes the job hands the model for each file (``FILE``, raw bytes)."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        import hashlib

        return pd.DataFrame({"SHA": [hashlib.sha256(v).hexdigest() for v in X["FILE"]]})


def file_digest_signature():
    from snowflake.ml.model import model_signature as ms

    return ms.ModelSignature(
        inputs=[ms.FeatureSpec("FILE", ms.DataType.BYTES)],
        outputs=[ms.FeatureSpec("SHA", ms.DataType.STRING)],
    )
