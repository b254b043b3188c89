"""Dagster assets, one module per concern."""
