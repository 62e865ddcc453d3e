"""Values that reach SQL literals or the job spec, and the adapter over snowflake-ml's private modules."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import airflow_snowflake_batch
from airflow_snowflake_batch.backends.base import InputSource
from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.identifiers import StageLocation
from airflow_snowflake_batch.inference import spec_safety
from airflow_snowflake_batch.inference.spec_safety import (
    check_column_handling_is_safe,
    check_literal_text,
    check_param_values,
    check_resources,
    check_spec_values,
    param_validator,
)

OUT = StageLocation.parse("@DB.SC.OUT/preds/")
TABLE = InputSource(query="SELECT 1 AS A")

# -- literal text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["plain", "it's", 'say "hi"', "a/b=c", ""])
def test_printable_ascii_without_backslash_passes_unchanged(value: str) -> None:
    assert check_literal_text(value, "engine") == value


@pytest.mark.parametrize("value", ["a\\b", "line\nbreak", "tab\t", "caf\u00e9", "\x00", 3, None])
def test_backslashes_control_and_non_ascii_characters_and_non_strings_are_refused(value: Any) -> None:
    with pytest.raises(InputValidationError, match="Invalid engine .*printable ASCII"):
        check_literal_text(value, "engine")


def test_param_values_are_checked_at_every_depth_and_name_their_path() -> None:
    check_param_values({"prompt": "it's fine", "n": 3, "opts": {"k": ["a", 1]}})
    with pytest.raises(InputValidationError, match=r"params\['opts'\]\['k'\]\[0\]"):
        check_param_values({"opts": {"k": ["a\\b"]}})
    with pytest.raises(InputValidationError, match="inside lists and dicts of params cannot hold quotes"):
        check_param_values({"opts": ["it's"]})
    with pytest.raises(InputValidationError, match=r"params\['opts'\] key"):
        check_param_values({"opts": {"a'b": 1}})
    with pytest.raises(InputValidationError, match="params name"):
        check_param_values({"bad\\name": 1})


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [("cpu_requests", "500m", "1 core"), ("memory_requests", "8Gi", "8 GB"), ("gpu_requests", "2", "0.5")],
)
def test_resources_follow_snowflakes_quantity_syntax(key: str, good: str, bad: str) -> None:
    check_resources({key: good, "gpu_requests": None} if key != "gpu_requests" else {key: good})
    argument = key.removesuffix("_requests")
    with pytest.raises(InputValidationError, match=rf"Invalid resources\['{argument}'\] '{bad}'"):
        check_resources({key: bad})


def test_column_handling_must_be_a_dict_of_dicts_of_safe_text() -> None:
    check_column_handling_is_safe({"PATH": {"input_format": "full_stage_path", "convert_to": "base64"}})
    with pytest.raises(InputValidationError, match="expected a dict of column name"):
        check_column_handling_is_safe(["PATH"])  # type: ignore[arg-type]
    with pytest.raises(InputValidationError, match=r"column_handling\['PATH'\]"):
        check_column_handling_is_safe({"PATH": "base64"})  # type: ignore[dict-item]
    with pytest.raises(InputValidationError, match="column_handling key"):
        check_column_handling_is_safe({"A\nB": {}})


def test_spec_values_name_the_argument_that_would_break_out_and_normalize_image_repo() -> None:
    options: dict[str, Any] = {
        "engine": "vllm",
        "engine_args_override": ["--x=1"],
        "image_repo": "db.sc.repo",
    }
    check_spec_values(TABLE, OUT, {"p": "v"}, options)
    assert options["image_repo"] == "DB.SC.REPO"
    for bad, where in [
        ({"engine_args_override": ["ok", "a\\b"]}, r"engine_args_override\[1\]"),
        ({"partition_column": "A\nB"}, "partition_column"),
        ({"cpu_requests": "lots"}, r"resources\['cpu'\]"),
    ]:
        with pytest.raises(InputValidationError, match=where):
            check_spec_values(TABLE, OUT, {}, dict(bad))


# -- snowflake-ml's private modules ---------------------------------------------------------------


def test_snowflake_mls_private_names_still_exist_and_behave_as_relied_upon() -> None:
    """Fails first when a snowflake-ml upgrade moves or changes what param_validator uses."""
    from snowflake.ml.model._client.ops import param_ops
    from snowflake.ml.model._signatures import core

    spec = core.ParamSpec(name="temperature", dtype=core.DataType.FLOAT, default_value=0.5)
    group = core.ParamGroupSpec(
        name="response_format",
        specs=[core.ParamSpec(name="type", dtype=core.DataType.STRING, default_value="t")],
    )
    # The signature hands the specs over as to_dict(); from_dict must rebuild them.
    assert core.ParamSpec.from_dict(spec.to_dict()) == spec
    rebuilt = [core.ParamSpec.from_dict(spec.to_dict()), core.ParamGroupSpec.from_dict(group.to_dict())]
    param_ops.validate_params({"temperature": 0.2, "response_format": {"type": "json"}}, rebuilt)
    for wrong in ({"temperature": "hot"}, {"response_format": "json"}):
        with pytest.raises((ValueError, TypeError)):
            param_ops.validate_params(wrong, rebuilt)


def test_param_validator_checks_one_param_by_snowflake_mls_rules() -> None:
    validate = param_validator(
        [
            {"name": "temperature", "dtype": "FLOAT", "default_value": 0.5},
            {"name": "response_format", "specs": [{"name": "type", "dtype": "STRING", "default_value": "t"}]},
        ]
    )
    validate("temperature", 1)
    validate("response_format", {"type": "json"})
    with pytest.raises(ValueError, match="not compatible with dtype DataType.FLOAT"):
        validate("temperature", "hot")
    with pytest.raises(ValueError, match="expected a dict"):
        validate("response_format", "json")


def _private_snowflake_ml_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found += [
            n for n in names if n.startswith("snowflake.ml") and any(p.startswith("_") for p in n.split("."))
        ]
    return found


def test_spec_safety_is_the_only_module_importing_snowflake_mls_private_modules() -> None:
    root = Path(airflow_snowflake_batch.__file__).parent
    importers = {
        str(p.relative_to(root)): names
        for p in sorted(root.rglob("*.py"))
        if (names := _private_snowflake_ml_imports(p))
    }
    assert importers == {
        "inference/spec_safety.py": _private_snowflake_ml_imports(Path(spec_safety.__file__))
    }
    assert importers["inference/spec_safety.py"]  # the check sees the adapter's own imports
