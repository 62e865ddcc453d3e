"""A local model registry with Snowflake's semantics: versions, aliases, the default version.

Each version stores the model with cloudpickle (``model.pkl``) and a manifest (``manifest.json``) of
its functions and signatures in ``ModelSignature.to_dict()`` form. Signatures come from snowflake-ml's
public :func:`snowflake.ml.model.model_signature.infer_signature` on the target method's output for
``sample_input_data`` (or are given), and target methods default as snowflake-ml's handlers do, so
feature and output names (``output_feature_0``...) and function names (``PREDICT_PROBA``) are the
ones Snowflake would create.
"""

from __future__ import annotations

import inspect
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.backends.base import Feature, ModelFunction, ModelVersionRef, param_from_spec
from airflow_snowflake_batch.backends.local.layout import Layout, read_json, segment, write_json_atomic
from airflow_snowflake_batch.exceptions import ModelNotFoundError
from airflow_snowflake_batch.identifiers import Identifier, ObjectName

if TYPE_CHECKING:
    # Imported where a model is loaded: resolving a model or submitting a job needs no pandas.
    from airflow_snowflake_batch.backends.local.scoring import LoadedFunction

SYSTEM_ALIASES = ("DEFAULT", "FIRST", "LAST")

# snowflake-ml's handlers' DEFAULT_TARGET_METHODS (model_handlers/sklearn.py, xgboost.py, lightgbm.py).
_DEFAULT_TARGET_METHODS = {
    "sklearn": (
        "predict",
        "transform",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
        "score_samples",
    ),
    "xgboost": ("predict", "predict_proba"),
    "lightgbm": ("predict", "predict_proba"),
}
# Checked in order: XGBoost and LightGBM estimators are scikit-learn estimators too.
_MODEL_TYPES = (
    ("custom", "snowflake.ml.model.custom_model.CustomModel"),
    ("xgboost", "xgboost.sklearn.XGBModel"),
    ("lightgbm", "lightgbm.sklearn.LGBMModel"),
    ("sklearn", "sklearn.base.BaseEstimator"),
    ("sklearn", "sklearn.pipeline.Pipeline"),
)
_SAMPLE_ROWS = 100  # snowflake-ml infers signatures from the first 100 sample rows
MODEL_FILE = "model.pkl"
MANIFEST_FILE = "manifest.json"


def model_type_of(model: Any) -> str:
    """``sklearn``, ``xgboost``, ``lightgbm`` or ``custom``, judged by class names (no imports)."""
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(model).__mro__}
    for kind, class_name in _MODEL_TYPES:
        if class_name in names:
            return kind
    raise TypeError(
        f"{type(model).__name__} is not supported by the local registry: log a scikit-learn estimator or "
        "pipeline, an XGBoost or LightGBM scikit-learn-API estimator, or a snowflake.ml CustomModel."
    )


def function_from_manifest(entry: dict[str, Any]) -> ModelFunction:
    signature = entry["signature"]
    return ModelFunction(
        name=entry["name"],
        target_method=entry["target_method"],
        function_type=entry["function_type"],
        inputs=tuple(_feature(f) for f in signature["inputs"]),
        outputs=tuple(_feature(f) for f in signature["outputs"]),
        params=tuple(param_from_spec(p) for p in signature.get("params") or ()),
        is_partitioned=entry.get("is_partitioned", False),
    )


def _feature(spec: dict[str, Any]) -> Feature:
    # FeatureGroupSpec (nested features) has no "type": Snowflake passes it as an OBJECT.
    shape = spec.get("shape")
    return Feature(
        name=spec["name"],
        dtype=spec.get("type", "OBJECT"),
        nullable=spec.get("nullable", True),
        shape=tuple(shape) if shape else None,
    )


def load_function(version_dir: Path, target_method: str) -> LoadedFunction:
    """The stored model, ready to run ``target_method``."""
    import cloudpickle

    from airflow_snowflake_batch.backends.local.scoring import LoadedFunction

    manifest = read_json(version_dir / MANIFEST_FILE)
    entry = next(f for f in manifest["functions"] if f["target_method"] == target_method)
    with (version_dir / MODEL_FILE).open("rb") as handle:
        model = cloudpickle.load(handle)
    signature = entry["signature"]
    return LoadedFunction(
        model=model,
        target_method=target_method,
        inputs=signature["inputs"],
        outputs=signature["outputs"],
        params=signature.get("params") or [],
    )


class LocalRegistry:
    """The models of a workspace, under ``<root>/models/<DB>/<SCHEMA>/<MODEL>/``."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def version_dir(self, model: ObjectName, version: Identifier) -> Path:
        return self.layout.confine(self.layout.model_dir(model) / "versions" / segment(version))

    def _index_path(self, model: ObjectName) -> Path:
        return self.layout.confine(self.layout.model_dir(model) / "model.json")

    def _index(self, model: ObjectName) -> dict[str, Any]:
        path = self._index_path(model)
        if not path.is_file():
            raise ModelNotFoundError(
                f"Model {model.sql} does not exist in the local workspace {self.layout.root}."
            )
        return read_json(path)

    # -- logging ---------------------------------------------------------------------------------

    def log(
        self,
        model_object: Any,
        *,
        model: ObjectName,
        version: Identifier | None,
        signatures: dict[str, Any] | None,
        sample_input_data: Any,
        target_methods: list[str] | None,
        comment: str | None,
        metrics: dict[str, Any] | None,
    ) -> ModelVersionRef:
        """Store a new version (the first one logged becomes the default)."""
        import cloudpickle

        kind = model_type_of(model_object)
        version = version or Identifier(f"V_{secrets.token_hex(4).upper()}")
        index_path = self._index_path(model)
        index = (
            read_json(index_path)
            if index_path.is_file()
            else {"versions": [], "aliases": {}, "default": None}
        )
        if any(v["name"] == version.value for v in index["versions"]):
            raise ValueError(
                f"Model {model.sql} already has a version {version.sql}; choose another version_name."
            )

        functions = _functions(model_object, kind, signatures, sample_input_data, target_methods)
        target = self.version_dir(model, version)
        if target.exists():
            shutil.rmtree(target)  # left by a log_model that failed half-way
        target.mkdir(parents=True)
        by_value = _pickle_module_by_value(model_object) if kind == "custom" else None
        try:
            with (target / MODEL_FILE).open("wb") as handle:
                cloudpickle.dump(model_object, handle)
        finally:
            if by_value is not None:
                cloudpickle.unregister_pickle_by_value(by_value)
        write_json_atomic(target / MANIFEST_FILE, {"model_type": kind, "functions": functions})

        index["versions"].append(
            {"name": version.value, "created_on": time.time(), "comment": comment, "metrics": metrics or {}}
        )
        index["default"] = index["default"] or version.value
        write_json_atomic(index_path, index)
        return self.resolve(model, version.sql)

    # -- lookups ---------------------------------------------------------------------------------

    def resolve(self, model: ObjectName, version_or_alias: str | None) -> ModelVersionRef:
        """Like ``Model.version()``: an alias (system or user) first, then a version name; None is DEFAULT."""
        index = self._index(model)
        wanted = Identifier.parse(version_or_alias or "DEFAULT", what="version_name").value
        names = [v["name"] for v in index["versions"]]
        if wanted == "DEFAULT":
            name = index["default"]
        elif wanted == "FIRST":
            name = min(index["versions"], key=lambda v: v["created_on"])["name"] if names else None
        elif wanted == "LAST":
            name = max(index["versions"], key=lambda v: v["created_on"])["name"] if names else None
        else:
            name = index["aliases"].get(wanted, wanted if wanted in names else None)
        if name is None:
            raise ModelNotFoundError(
                f"Model {model.sql} has no version or alias {Identifier(wanted).sql}. "
                f"Versions: {', '.join(names) or 'none'}; aliases: {', '.join(sorted(index['aliases'])) or 'none'}."
            )
        version = Identifier(name)
        manifest = read_json(self.version_dir(model, version) / MANIFEST_FILE)
        return ModelVersionRef(
            model=model,
            version=version,
            functions=tuple(function_from_manifest(f) for f in manifest["functions"]),
        )

    def set_alias(self, model: ObjectName, version: str, alias: str) -> None:
        """``ALTER MODEL ... VERSION v SET ALIAS = a``: an alias names one version of the model."""
        index = self._index(model)
        target = self.resolve(model, version).version.value
        name = Identifier.parse(alias, what="alias").value
        if name in SYSTEM_ALIASES:
            raise ValueError(
                f"{name} is a system alias and cannot be set; use set_default_version for DEFAULT."
            )
        if name in {v["name"] for v in index["versions"]}:
            raise ValueError(f"Alias {alias!r} would hide the version of the same name in model {model.sql}.")
        current = index["aliases"].get(name)
        if current is not None and current != target:
            raise ValueError(
                f"Alias {name} already names version {current} of model {model.sql}; unset it first."
            )
        index["aliases"][name] = target
        write_json_atomic(self._index_path(model), index)

    def unset_alias(self, model: ObjectName, alias: str) -> None:
        index = self._index(model)
        name = Identifier.parse(alias, what="alias").value
        if index["aliases"].pop(name, None) is None:
            raise ModelNotFoundError(f"Model {model.sql} has no alias {name}.")
        write_json_atomic(self._index_path(model), index)

    def set_default_version(self, model: ObjectName, version: str) -> None:
        index = self._index(model)
        index["default"] = self.resolve(model, version).version.value
        write_json_atomic(self._index_path(model), index)


def _functions(
    model: Any,
    kind: str,
    signatures: dict[str, Any] | None,
    sample_input_data: Any,
    target_methods: list[str] | None,
) -> list[dict[str, Any]]:
    """Manifest entries of the model's functions, with signatures inferred or given."""
    from snowflake.ml.model import model_signature

    if signatures:
        methods = list(signatures)
    elif sample_input_data is None:
        raise ValueError("Either signatures or sample_input_data must be given to log a model.")
    elif target_methods:
        methods = list(target_methods)
    elif kind == "custom":
        methods = sorted(
            n for n in dir(model) if getattr(getattr(model, n, None), "_is_inference_api", False)
        )
    else:
        methods = [m for m in _DEFAULT_TARGET_METHODS[kind] if callable(getattr(model, m, None))]
    for method in methods:
        if not callable(getattr(model, method, None)):
            raise ValueError(f"Target method {method} is not callable or does not exist in the model.")

    entries = []
    for method in methods:
        signature = (signatures or {}).get(method) or _infer(model, kind, method, sample_input_data)
        if kind == "custom" and not signature.params:
            signature = model_signature.ModelSignature(
                inputs=signature.inputs,
                outputs=signature.outputs,
                params=_method_params(getattr(model, method)),
            )
        partitioned = bool(getattr(getattr(model, method), "_is_partitioned_api", False))
        entries.append(
            {
                "name": Identifier.parse(method, what="target method").value,
                "target_method": method,
                "function_type": "TABLE_FUNCTION" if partitioned else "FUNCTION",
                "is_partitioned": partitioned,
                "signature": signature.to_dict(),
            }
        )
    return entries


def _infer(model: Any, kind: str, method: str, sample_input_data: Any) -> Any:
    import pandas as pd
    from snowflake.ml.model import model_signature

    sample = sample_input_data[:_SAMPLE_ROWS]
    if kind == "custom" and not isinstance(sample, pd.DataFrame):
        sample = pd.DataFrame(sample)
    output = getattr(model, method)(sample)
    if inspect.isawaitable(output):
        import asyncio

        output = asyncio.run(_await(output))
    return model_signature.infer_signature(
        sample_input_data, output, input_data_limit=_SAMPLE_ROWS, output_data_limit=_SAMPLE_ROWS
    )


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _method_params(method: Any) -> list[Any]:
    """``ParamSpec``\\s of a custom method's keyword-only parameters, as snowflake-ml's custom handler makes them."""
    from snowflake.ml.model import model_signature

    specs = []
    for param in inspect.signature(method, eval_str=True).parameters.values():
        if param.kind is inspect.Parameter.KEYWORD_ONLY:
            specs.append(
                model_signature.ParamSpec(
                    name=param.name,
                    dtype=model_signature.DataType.from_python_type(param.annotation),
                    default_value=param.default,
                    shape=model_signature.DataType.shape_from_python_type(param.annotation),
                )
            )
    return specs


def _pickle_module_by_value(model: Any) -> Any:
    """Pickle the model's module by value (as snowflake-ml does), so job processes need not import it."""
    import cloudpickle

    module = sys.modules.get(type(model).__module__)
    if module is None or module.__name__ == "__main__":
        return None
    cloudpickle.register_pickle_by_value(module)
    return module
