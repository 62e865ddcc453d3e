"""Airflow plugin of the provider: the local job page and the listener that cancels marked jobs."""
