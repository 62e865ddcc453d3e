"""Shared set-up of the emulator's own tests: a fitted model and an input table."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def linear_model() -> tuple[Any, Any]:
    """A LinearRegression on features X1, X2 (y = 3*X1 + X2) and its training frame."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"X1": np.arange(20.0), "X2": np.arange(20.0) % 7})
    return LinearRegression().fit(frame, frame.X1 * 3 + frame.X2), frame
