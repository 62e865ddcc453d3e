"""Apache Airflow provider for scoring data with Snowflake Model Registry models."""

from __future__ import annotations

__version__ = "0.1.0"
