"""CustomModels used by the local backend tests (tests/unit/local, tests/e2e/local_jobs, tests/security).

No ``from __future__ import annotations`` here: snowflake-ml checks that inference methods are
annotated with the ``pandas.DataFrame`` class itself, not a string.
"""

import base64

import pandas as pd
from snowflake.ml.model import custom_model


class Scaler(custom_model.CustomModel):
    """Multiplies SEPAL_LENGTH by the ``factor`` inference param."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, factor: float = 2.0) -> pd.DataFrame:
        return pd.DataFrame({"SCALED": X["SEPAL_LENGTH"] * factor})


class Exploding(custom_model.CustomModel):
    """Fails on rows with a negative SEPAL_LENGTH, as a broken model would."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        if (X["SEPAL_LENGTH"] < 0).any():
            raise ValueError("negative sepal length: the model cannot score this row")
        return pd.DataFrame({"OK": X["SEPAL_LENGTH"] > 0})


class FileSizer(custom_model.CustomModel):
    """Reads a base64-encoded file column (as column_handling delivers it) and returns its size."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"SIZE": X["IMAGE"].map(lambda text: len(base64.b64decode(text)))})


class NullAware(custom_model.CustomModel):
    """Reports, per row, whether COUNT is missing and the dtype the model received it in."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"MISSING": X["COUNT"].isna(), "DTYPE": str(X["COUNT"].dtype)})


class ParamTyper(custom_model.CustomModel):
    """Reports the Python type the ``factor`` param arrives as."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, factor: float = 2.0) -> pd.DataFrame:
        return pd.DataFrame({"PARAM_TYPE": [type(factor).__name__] * len(X)})
