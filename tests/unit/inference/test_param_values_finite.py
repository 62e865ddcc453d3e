"""Model params with NaN or infinity are refused before submit (issue 19, decided item): spec_safety."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.inference.spec_safety import check_param_values


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"temperature": float("nan")}, "params['temperature']"),
        ({"stop": float("inf")}, "params['stop']"),
        ({"weights": [1.0, float("-inf")]}, "params['weights'][1]"),
        ({"opts": {"top_p": float("nan")}}, "params['opts']['top_p']"),
        ({"x": np.float32("nan")}, "params['x']"),
        ({"x": np.float64("inf")}, "params['x']"),
        ({"x": Decimal("NaN")}, "params['x']"),
    ],
)
def test_non_finite_numbers_are_refused_naming_where(params: dict[str, Any], where: str) -> None:
    with pytest.raises(InputValidationError) as raised:
        check_param_values(params)
    assert str(raised.value).startswith(f"{where} is ")
    assert "bare nan/inf" in str(raised.value)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"temperature": 0.2, "n": 3, "flag": True, "name": "nan", "none": None},
        {"stop": ["inf"], "opts": {"k": 1.5e308}},
        {"x": np.float64(1.0), "y": Decimal("1.5"), "z": np.int64(2)},
    ],
)
def test_finite_values_and_strings_pass(params: dict[str, Any]) -> None:
    check_param_values(params)
