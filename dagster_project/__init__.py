"""Customs performance warehouse: Dagster assets, dbt models and DuckDB marts."""
