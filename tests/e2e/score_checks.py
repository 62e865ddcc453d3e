"""Checks of a daily-partitioned scores table against its inputs and the model, for end-to-end tests.

Kept apart from the tests that start Airflow, so they can be tested cheaply on deliberately wrong
tables (``test_score_checks.py``): a check that cannot fail proves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def day_strings(values: pd.Series) -> pd.Series:
    """Dates, datetimes or ISO strings as ``YYYY-MM-DD`` strings."""
    return pd.to_datetime(values).dt.strftime("%Y-%m-%d")


def _column(frame: pd.DataFrame, name: str) -> str:
    """The frame's column for ``name``, matched case-insensitively, as Snowflake matches unquoted names."""
    matches = [c for c in frame.columns if c.upper() == name.upper()]
    if len(matches) != 1:
        raise KeyError(f"Expected one column {name!r} in {list(frame.columns)}, found {len(matches)}.")
    return matches[0]


def score_problems(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    model: Any,
    *,
    days: Sequence[str],
    feature_columns: Sequence[str],
    key: str = "CUSTOMER_ID",
    feature_date: str = "FEATURE_DATE",
    partition: str = "SCORE_DATE",
) -> list[str]:
    """Everything wrong with ``scores``; an empty list means it is right.

    Right means: exactly one partition per day in ``days``; in each, one row per input row of that
    day (same count, no duplicate ``key``, no key that is not an input of that day); the feature
    values carried through unchanged; and one output column equal to ``model.predict`` of the inputs.

    :param scores: the scores table as read back (inputs, model output, partition column).
    :param features: the input table (``key``, ``feature_date``, the features), all days.
    :param model: the model that was registered, to recompute the expected scores.
    :param days: the days that were scored, ``YYYY-MM-DD``.
    :param feature_columns: the model's input columns, in the order it was trained on.
    """
    problems: list[str] = []
    try:
        score_day = day_strings(scores[_column(scores, partition)])
        score_key = scores[_column(scores, key)]
        score_features = {c: scores[_column(scores, c)] for c in feature_columns}
    except KeyError as err:
        return [f"scores table lacks a column: {err}"]
    known = {c.upper() for c in (key, partition, *feature_columns)}
    outputs = [c for c in scores.columns if c.upper() not in known]
    if len(outputs) != 1:
        return [f"expected exactly one model output column besides {sorted(known)}, found {outputs}"]
    output = scores[outputs[0]]

    found_days = set(score_day)
    if missing := sorted(set(days) - found_days):
        problems.append(f"missing partitions {missing}")
    if extra := sorted(found_days - set(days)):
        problems.append(f"unexpected partitions {extra}")

    input_day = day_strings(features[feature_date])
    for day in days:
        inputs = features[input_day == day].set_index(key)
        in_day = (score_day == day).to_numpy()
        rows = pd.DataFrame({c: v[in_day].to_numpy() for c, v in score_features.items()})
        rows.index = pd.Index(score_key[in_day].to_numpy(), name=key)
        got = pd.Series(output[in_day].to_numpy(), index=rows.index)

        if len(rows) != len(inputs):
            problems.append(f"{day}: {len(rows)} rows, expected {len(inputs)} (one per input row)")
        if dups := sorted(rows.index[rows.index.duplicated()].unique().tolist()):
            problems.append(f"{day}: duplicate {key} {dups}")
        if strangers := sorted(set(rows.index) - set(inputs.index)):
            problems.append(f"{day}: {key} {strangers} are not inputs of that day")
        if dups or strangers or rows.empty:
            continue

        expected_features = inputs.loc[rows.index, list(feature_columns)]
        for column in feature_columns:
            if not np.allclose(rows[column].astype(float), expected_features[column].astype(float)):
                problems.append(f"{day}: column {column} differs from the input")
        expected = np.asarray(model.predict(expected_features), dtype=float)
        actual = got.astype(float).to_numpy()
        wrong = ~np.isclose(actual, expected, rtol=1e-6, atol=1e-9)
        if wrong.any():
            sample = list(zip(rows.index[wrong], actual[wrong], expected[wrong], strict=True))[:3]
            problems.append(
                f"{day}: {int(wrong.sum())} score(s) differ from model.predict, e.g. (key, got, expected) "
                f"{sample}"
            )
    return problems
