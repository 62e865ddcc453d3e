"""The end-to-end result check must catch wrong results: fed deliberately corrupted tables, it fails."""

from __future__ import annotations

import pandas as pd
import pytest

from .repo import script_module
from .score_checks import score_problems

demo_data = script_module("demo_data")
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
FEATURES = list(demo_data.FEATURE_COLUMNS)


@pytest.fixture(scope="module")
def model():
    return demo_data.train_churn_model()


@pytest.fixture(scope="module")
def features():
    # The day after the last scored one must never show up in the scores.
    return demo_data.customer_features([*DAYS, "2024-01-04"], [4, 6, 5, 3])


@pytest.fixture
def scores(model, features):
    """A correct scores table, as the scoring tasks write it: inputs, output, SCORE_DATE."""
    inputs = features[features["FEATURE_DATE"].astype(str).isin(DAYS)]
    table = inputs[["CUSTOMER_ID", *FEATURES]].copy()
    table["output_feature_0"] = model.predict(inputs[FEATURES])
    table["SCORE_DATE"] = inputs["FEATURE_DATE"].astype(str).to_numpy()
    return table.reset_index(drop=True)


def problems(scores, features, model):
    return score_problems(scores, features, model, days=DAYS, feature_columns=FEATURES)


def test_correct_table_passes(scores, features, model):
    assert problems(scores, features, model) == []


def test_date_typed_partition_column_passes(scores, features, model):
    scores["SCORE_DATE"] = pd.to_datetime(scores["SCORE_DATE"]).dt.date
    assert problems(scores, features, model) == []


def test_wrong_score_is_caught(scores, features, model):
    scores.loc[3, "output_feature_0"] += 0.01
    [problem] = problems(scores, features, model)
    assert "1 score(s) differ from model.predict" in problem and problem.startswith("2024-01-01")


def test_scores_swapped_between_customers_are_caught(scores, features, model):
    scores.loc[[0, 1], "output_feature_0"] = scores.loc[[1, 0], "output_feature_0"].to_numpy()
    assert any("2 score(s) differ" in p for p in problems(scores, features, model))


def test_duplicate_row_is_caught(scores, features, model):
    doubled = pd.concat([scores, scores.iloc[[5]]], ignore_index=True)
    found = problems(doubled, features, model)
    assert "2024-01-02: 7 rows, expected 6 (one per input row)" in found
    assert "2024-01-02: duplicate CUSTOMER_ID [1002]" in found


def test_missing_row_is_caught(scores, features, model):
    assert problems(scores.drop(index=9), features, model) == [
        "2024-01-02: 5 rows, expected 6 (one per input row)"
    ]


def test_missing_partition_is_caught(scores, features, model):
    found = problems(scores[scores["SCORE_DATE"] != "2024-01-03"], features, model)
    assert "missing partitions ['2024-01-03']" in found


def test_rows_of_another_day_are_caught(scores, features, model):
    moved = scores.copy()
    moved.loc[moved["SCORE_DATE"] == "2024-01-03", "SCORE_DATE"] = "2024-01-04"
    found = problems(moved, features, model)
    assert "unexpected partitions ['2024-01-04']" in found and "missing partitions ['2024-01-03']" in found


def test_changed_feature_is_caught(scores, features, model):
    scores.loc[0, "TENURE_MONTHS"] += 1
    assert "2024-01-01: column TENURE_MONTHS differs from the input" in problems(scores, features, model)


def test_missing_output_column_is_caught(scores, features, model):
    assert problems(scores.drop(columns="output_feature_0"), features, model) == [
        "expected exactly one model output column besides "
        "['CUSTOMER_ID', 'MONTHLY_CHARGES', 'SCORE_DATE', 'SUPPORT_CALLS', 'TENURE_MONTHS'], found []"
    ]
