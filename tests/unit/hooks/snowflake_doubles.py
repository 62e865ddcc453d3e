"""Builders shared by the Snowflake-path hook tests (a module, not conftest, so imports are unambiguous)."""

from __future__ import annotations

from typing import Any


def predict_function(
    name: str = "PREDICT",
    target_method: str = "predict",
    inputs: list[Any] | None = None,
    outputs: list[Any] | None = None,
    params: list[Any] | None = None,
    function_type: str = "FUNCTION",
) -> dict[str, Any]:
    """A ``show_functions()`` entry with a real ``ModelSignature``."""
    from snowflake.ml.model import model_signature as ms

    signature = ms.ModelSignature(
        inputs=inputs
        if inputs is not None
        else [
            ms.FeatureSpec("sepal_length", ms.DataType.DOUBLE),
            ms.FeatureSpec("SPECIES_CODE", ms.DataType.INT64),
        ],
        outputs=outputs if outputs is not None else [ms.FeatureSpec("output_feature_0", ms.DataType.DOUBLE)],
        params=params,
    )
    return {
        "name": name,
        "target_method": target_method,
        "target_method_function_type": function_type,
        "signature": signature,
        "is_partitioned": False,
    }
