"""Every figure traceable: the records behind a published KPI value (marts.kpi_evidence)."""
