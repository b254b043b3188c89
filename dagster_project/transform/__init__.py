"""The dbt side: project handle, build window, argument builder."""
