"""Sphinx configuration of the airflow-snowflake-batch documentation.

Build: ``.venv/bin/sphinx-build -W --keep-going -b html docs <output folder>`` (``scripts/test.sh`` does,
with warnings as errors). The how-to pages include the example DAGs of ``dags_examples/`` by their
``[START howto_...]``/``[END howto_...]`` markers; the reference is built from the docstrings, whose
``:param:`` fields are plain reST (no napoleon).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the package, also when it is not installed

project = "airflow-snowflake-batch"
author = "airflow-snowflake-batch contributors"
copyright = "the airflow-snowflake-batch contributors, Apache License 2.0"

extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# Documented classes subclass Airflow's and the Snowflake provider's; their members stay there.
autodoc_inherit_docstrings = False

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {"description": "Snowflake Model Registry inference for Apache Airflow"}
