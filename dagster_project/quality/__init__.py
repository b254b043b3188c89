"""The quality gate: one Great Expectations suite per feed, run on every monthly load.

* `metrics`  — what is measured per feed-month, derived from the feed contract
* `suites`   — the suite files in `expectations/` (rendered from `metrics`, thresholds kept)
* `compute`  — the metrics computed inside DuckDB (aggregates only) and offending-row samples
* `validate` — the suites evaluated by Great Expectations on the small metrics frame, Data Docs
* `docs_views` — GX's Data Docs views with their templates compiled once per process
* `ledger`   — quality results in `raw.load_audit`, operator overrides, and what the dbt build
  withholds (`gate_states`, written to `meta.quality_gate` before each build)
* `checks`   — the Dagster asset checks: one per feed (the build waits for it), and
  `scorecard_report:published_in_full`, which fails the run when a KPI value was withheld
* `cli`      — `customs-kpi override`
"""
