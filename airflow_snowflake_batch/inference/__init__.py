"""The provider's decisions, apart from any I/O and from Airflow.

Each module decides one thing from plain values, and is tested on its own (``tests/unit/inference/``);
the hook (:mod:`airflow_snowflake_batch.hooks.batch_inference`) reads what they need and acts on what
they return. None imports Airflow (``tests/unit/test_import_graph.py`` checks it).

- :mod:`.signature`: input columns against the model signature (snowflake-ml's naming rule, NULLs, params);
- :mod:`.column_handling`: what each ``column_handling`` column means and whether it fits its feature;
- :mod:`.inputs`: one input, a read-only ``input_query``, file names and patterns;
- :mod:`.spec_safety`: values that reach SQL literals or the job spec; the adapter over snowflake-ml's
  private modules;
- :mod:`.stages`: the output stage and folders a job may use;
- :mod:`.jobs`: job names per try, and whether a try re-attaches, reuses or submits;
- :mod:`.results`: what a load or write replaces, and when results may be loaded;
- :mod:`.retention`: what a cleanup may drop.
"""
