"""Values that reach a SQL string literal or the job specification, and the one adapter over
snowflake-ml's private modules.

snowflake-ml embeds warehouse ``params`` in SQL text and writes a batch job's spec as YAML inside a SQL
string literal; it escapes single quotes there but not backslashes. So every such value is checked
here, before anything runs, with an error naming its argument.

snowflake-ml's parameter rules live in private modules (``snowflake.ml.model._client.ops.param_ops``,
``snowflake.ml.model._signatures.core``). This module is the only place the provider imports them
(:func:`param_validator`); ``tests/unit/inference/test_spec_safety.py`` imports each private name and
checks it still behaves as relied upon, so an upgrade that moves them fails there first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.identifiers import ObjectName

if TYPE_CHECKING:
    from airflow_snowflake_batch.backends.base import InputSource
    from airflow_snowflake_batch.identifiers import StageLocation

# The characters a value may use when it is embedded in a SQL string literal or the job
# specification: snowflake-ml escapes single quotes there but not backslashes, and the YAML it
# writes escapes non-printable and non-ASCII characters with backslashes, which the literal then
# decodes. Printable ASCII without a backslash reaches Snowflake exactly as given.
_LITERAL_SAFE = re.compile(r"[\x20-\x5b\x5d-\x7e]*")
_LITERAL_EXPECTED = (
    "printable ASCII characters other than '\\' (the value is embedded in a SQL string literal, "
    "which snowflake-ml does not escape for backslashes)"
)
# Snowflake's quantity syntax for SPCS resources (as Kubernetes): CPU "1", "0.5" or "500m"; memory
# bytes with an optional decimal or binary suffix ("512Mi", "8Gi", "2G"); GPU a whole number.
_RESOURCE_SYNTAX = {
    "cpu_requests": (re.compile(r"\d+(\.\d+)?|\d+m"), 'a CPU quantity like "1", "0.5" or "500m"'),
    "memory_requests": (
        re.compile(r"\d+(\.\d+)?([KMGTPE]i?)?"),
        'a memory quantity like "512Mi", "8Gi" or "2G"',
    ),
    "gpu_requests": (re.compile(r"\d+"), 'a whole number of GPUs like "1"'),
}


def check_literal_text(value: object, what: str) -> str:
    """``value`` if it is a string that stays inside a SQL literal or the job spec; else an error naming ``what``."""
    if not isinstance(value, str) or not _LITERAL_SAFE.fullmatch(value):
        raise InputValidationError(f"Invalid {what} {value!r}: expected {_LITERAL_EXPECTED}.")
    return value


def check_param_values(params: dict[str, Any], *, what: str = "params") -> None:
    """Every string in ``params`` (nested ones and dict keys too) stays inside its SQL literal, and
    no number is NaN or infinite.

    snowflake-ml formats warehouse params into SQL (``format_param_value_for_sql``: strings escape
    only single quotes, dict keys and list items are not escaped at all) and job params into the
    job spec; so strings are limited to safe characters, and nested ones also lose quotes. Floats
    are written with ``str()``: NaN becomes a bare ``nan`` and infinity ``inf``, not SQL, while the
    local backend would hand the value to the model; snowflake-ml's own check lets NaN through even
    for a STRING param. So non-finite numbers (numpy floats and ``Decimal`` too) are refused.

    >>> check_param_values({"temperature": 0.2, "stop": ["a"], "opts": {"k": 1}})
    >>> check_param_values({"opts": {"top_p": float("nan")}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    airflow_snowflake_batch.exceptions.InputValidationError: params['opts']['top_p'] is nan: ...
    """

    def visit(value: Any, path: str, nested: bool) -> None:
        if isinstance(value, str):
            check_literal_text(value, path)
            if nested and ("'" in value or '"' in value):
                raise InputValidationError(
                    f"Invalid {path} {value!r}: strings inside lists and dicts of params cannot hold quotes "
                    "(snowflake-ml writes them into SQL unescaped)."
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(key, f"{path} key", True)
                visit(item, f"{path}[{key!r}]", True)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(item, f"{path}[{index}]", True)
        elif not _is_finite(value):
            raise InputValidationError(
                f"{path} is {value!r}: NaN and infinity cannot be passed to a model as a param (snowflake-ml "
                "writes them into the inference SQL as bare nan/inf, which Snowflake rejects). Pass a finite "
                "number, None, or a string such as 'NaN' if the model expects text."
            )

    for name, value in params.items():
        visit(name, f"{what} name", False)
        visit(value, f"{what}[{name!r}]", False)


def _is_finite(value: Any) -> bool:
    """False for NaN and infinite floats, numpy floats and Decimals; True for anything else."""
    if isinstance(value, Decimal):
        return value.is_finite()
    if isinstance(value, float) or type(value).__name__.startswith("float"):  # numpy floats too
        try:
            return math.isfinite(float(value))
        except (TypeError, ValueError):
            return True
    return True


def check_resources(resources: dict[str, str | None]) -> None:
    """``cpu_requests``/``memory_requests``/``gpu_requests`` in Snowflake's quantity syntax."""
    for key, value in resources.items():
        if value is None:
            continue
        pattern, expected = _RESOURCE_SYNTAX[key]
        if not isinstance(value, str) or not pattern.fullmatch(value):
            argument = "resources['" + key.removesuffix("_requests") + "']"
            raise InputValidationError(f"Invalid {argument} {value!r}: expected {expected}.")


def check_column_handling_is_safe(column_handling: dict[str, dict[str, str]]) -> None:
    """``column_handling`` cannot break out of the job spec: its keys and values are safe text.

    Which columns it may name, and which values mean something, is :func:`check_column_handling`'s.
    """
    if not isinstance(column_handling, dict):
        raise InputValidationError(
            f"Invalid column_handling {column_handling!r}: expected a dict of column name to options."
        )
    for key, options in column_handling.items():
        check_literal_text(key, "column_handling key")
        if not isinstance(options, dict):
            raise InputValidationError(
                f"Invalid column_handling[{key!r}] {options!r}: expected a dict like "
                '{"input_format": "full_stage_path", "convert_to": "base64"}.'
            )
        for option, value in options.items():
            check_literal_text(option, f"column_handling[{key!r}] option")
            check_literal_text(value, f"column_handling[{key!r}][{option!r}]")


def check_spec_values(
    source: InputSource, output: StageLocation, params: Mapping[str, Any], options: dict[str, Any]
) -> None:
    """Every value of a job spec that is text in its YAML stays inside the SQL literal.

    ``options`` are the batch operator's job options; ``image_repo`` in it is replaced by its parsed name.
    """
    check_param_values(dict(params))
    check_column_handling_is_safe(options.get("column_handling") or {})
    check_resources({k: options.get(k) for k in ("cpu_requests", "memory_requests", "gpu_requests")})
    check_literal_text(output.sql, "output_stage_location")
    if source.stage_location is not None:
        check_literal_text(source.stage_location.sql, "input_stage_location")
    if options.get("partition_column"):
        check_literal_text(options["partition_column"], "partition_column")
    if options.get("engine") is not None:
        check_literal_text(options["engine"], "engine")
    for index, argument in enumerate(options.get("engine_args_override") or ()):
        check_literal_text(argument, f"engine_args_override[{index}]")
    if options.get("image_repo"):
        repo = ObjectName.parse(options["image_repo"], what="image_repo")
        options["image_repo"] = check_literal_text(repo.sql, "image_repo")


# -- snowflake-ml's private modules: imported here only ------------------------------------------


def param_validator(specs: list[dict[str, Any]]) -> Callable[[str, Any], None]:
    """A check of one ``params`` value against a function's param specs, by snowflake-ml's own rules.

    ``specs`` are the specs of the signature as dicts (``ParamSpec.to_dict()`` or
    ``ParamGroupSpec.to_dict()``). The check raises ``ValueError`` or ``TypeError`` for a value
    snowflake-ml's ``param_ops.validate_params`` (which the batch inference image also runs) refuses.
    """
    from snowflake.ml.model._client.ops import param_ops
    from snowflake.ml.model._signatures import core

    rebuilt = [
        core.ParamGroupSpec.from_dict(s) if "specs" in s else core.ParamSpec.from_dict(s) for s in specs
    ]

    def validate(name: str, value: Any) -> None:
        param_ops.validate_params({name: value}, rebuilt)

    return validate
