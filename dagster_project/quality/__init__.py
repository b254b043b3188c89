"""The quality gate: one Great Expectations suite per feed, run on every monthly load.

* `metrics`  — what is measured per feed-month, derived from the feed contract
* `suites`   — the suite files in `expectations/` (rendered from `metrics`, thresholds kept)
* `compute`  — the metrics computed inside DuckDB (aggregates only) and offending-row samples
* `validate` — the suites evaluated by Great Expectations on the small metrics frame, Data Docs
* `ledger`   — quality results in `raw.load_audit`, operator overrides (the gate publishes the ledger
  alone through `publish.publisher.publish(..., ledger_only=True)`)
* `checks`   — the blocking Dagster asset checks
* `cli`      — `customs-kpi override`
"""
