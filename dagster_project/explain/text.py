"""`customs-kpi explain`: the explanation of one KPI value as text, the records as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from dagster_project.explain.evidence import RECORD_COLUMNS, Explanation, records


def fmt(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.10g}"
    return str(v)


def render(e: Explanation) -> str:
    c, p, s = e.catalog, e.published, e.summary
    lines = [
        f"{e.kpi_id} — {c['indicator']} ({c['kpi_group']}), {e.month:%Y-%m}",
        "",
        f"definition:  {c['definition']}",
        f"formula:     {e.spec.formula}",
        f"unit:        {c['unit']} · direction {c['direction']} · basis {c['basis']} · source {c['source']}",
    ]
    for number, title, text in e.spec.readings:
        lines.append(f"reading {number}:  {title} — {text} (docs/kpis.md, Readings we chose)")
    lines += [
        "",
        f"published:   value {fmt(p['value'])} · n {fmt(p['n'])} · YTD {fmt(p['ytd_value'])}",
        f"             baseline {fmt(p['baseline'])} · target {fmt(p['target'])} · status {fmt(p['status'])}"
        f" · progress {fmt(p['progress_pct'])} %",
        f"quality:     {e.quality}",
        f"recomputed:  value {fmt(e.value)} · n {fmt(e.n)} from {s.records} evidence record(s): "
        f"{s.numerator} in the numerator, {s.denominator} in the denominator",
    ]
    if e.spec.feeds and not e.delivered:
        lines.append(
            f"             (no delivery of {', '.join(e.spec.feeds)} for the month: the count is null)"
        )
    if e.quality.startswith("withheld"):
        lines.append(
            "check:       withheld by the quality gate: no value is published, no record is listed"
        )
    elif e.matches:
        tol = (
            "exactly"
            if e.spec.aggregation in ("count", "distinct_count", "manual")
            else "within 1e-9 relative"
        )
        lines.append(f"check:       the records give the published value ({tol}) and n")
    else:
        lines += [
            "",
            "!!! MISMATCH: the evidence records do NOT give the published value !!!",
            f"!!! published value {fmt(p['value'])}, n {fmt(p['n'])}; recomputed value {fmt(e.value)}, n {fmt(e.n)}",
            "!!! the published warehouse is inconsistent: do not use this figure until it is rebuilt",
        ]
    lines += ["", f"records (first {len(e.top)}, those contributing most first):"]
    if e.top:
        widths = [
            max(len(h), *(len(fmt(r[i])) for r in e.top)) for i, h in enumerate(RECORD_COLUMNS)
        ]
        lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(RECORD_COLUMNS, widths)))
        for r in e.top:
            lines.append("  " + "  ".join(fmt(v).ljust(w) for v, w in zip(r, widths)))
    else:
        lines.append("  (none)")
    lines += ["", "all of them, in the DuckDB CLI on the published file:", e.sql]
    return "\n".join(lines) + "\n"


def write_csv(con, e: Explanation, path: Path) -> int:
    rows = records(con, e.kpi_id, e.month)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("kpi_id", "month", *RECORD_COLUMNS))
        for r in rows:
            w.writerow((e.kpi_id, f"{e.month:%Y-%m-%d}", *("" if v is None else v for v in r)))
    return len(rows)
