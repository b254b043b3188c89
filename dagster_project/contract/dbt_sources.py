"""Render dbt/models/staging/_sources.yml from the feed contract, so dbt's sources cannot drift from it.

Regenerate with `python -m dagster_project.contract.dbt_sources > dbt/models/staging/_sources.yml`;
a test fails when the committed file differs from what the contract renders.

One table of the source `raw` per feed (its columns, then the lineage columns;
`meta.feed_kind` marks it as a feed of the contract, which the dbt macro
`contract_feeds()` lists for the tests of a `feed` column), the loader's
bookkeeping tables `raw.load_audit` and `raw.rejects`, and the source `meta`
with the orchestrator's `meta.quality_gate`.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass

import yaml

from dagster_project.contract import FEEDS, Feed
from dagster_project.ingest.schema import LINEAGE_COLUMNS
from dagster_project.publish.publisher import IDENTITY_FEEDS

FOLD_ABOVE = 150  # descriptions longer than this are written as folded blocks
WIDTH = 100


@dataclass(frozen=True)
class SourceColumn:
    name: str
    description: str
    published_only: bool = False  # in the published copy (marts) only, not in the work database


@dataclass(frozen=True)
class SourceTable:
    name: str
    description: str
    columns: tuple[SourceColumn, ...]
    asset_key: tuple[str, ...] | None = None  # the Dagster asset that writes the table
    feed_kind: str | None = None  # the table of a feed of the contract: its kind


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    tables: tuple[SourceTable, ...]


# The lineage columns' text; _month's is the feed's own (Feed.month_text).
LINEAGE_DESCRIPTIONS = {
    "_file": "File name inside the month folder.",
    "_line": "Record number in the file (the header is line 1).",
    "_loaded_at": "UTC time of the load.",
}

LOAD_AUDIT = SourceTable(
    name="load_audit",
    description=(
        "One row per loaded file (feed, month, file) with its row counts and data-quality result, failed "
        "batches included. Published as marts.load_audit with one more column, in_published_kpis (boolean): "
        "true when the feed-month's delivery (its files and their SHA-256) is the one the published KPI "
        "tables are built from; false for a load the KPIs do not reflect yet, such as every load of a run "
        "whose quality gate held a month back."
    ),
    asset_key=("raw", "load_audit"),
    columns=(
        SourceColumn("feed", "Feed name."),
        SourceColumn("month", "Partition month of the delivery (first day of the folder's month)."),
        SourceColumn("file", "File name inside the month folder."),
        SourceColumn("file_sha256", "SHA-256 of the file's bytes."),
        SourceColumn("rows_read", "Data rows read from the file (rows_accepted + rows_rejected)."),
        SourceColumn("rows_accepted", "Rows that passed the row checks and were loaded."),
        SourceColumn("rows_rejected", "Rows sent to raw.rejects."),
        SourceColumn("quality_result", "Outcome of the feed's data-quality suite for the batch."),
        SourceColumn("quality_note", "Explanation of the quality result."),
        SourceColumn("notes", "Other remarks of the load (e.g. ignored extra columns)."),
        SourceColumn("loaded_at", "UTC time of the load."),
        SourceColumn(
            "in_published_kpis",
            "Published copy only (marts.load_audit): true when this feed-month's delivery is the one the "
            "published KPI tables are built from; false for a load the KPIs do not reflect yet.",
            published_only=True,
        ),
    ),
)


def _names(items: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


def rejects_table() -> SourceTable:
    return SourceTable(
        name="rejects",
        description="Rows that failed a row check, with the reason and the raw text.",
        asset_key=("raw", "rejects"),
        columns=(
            SourceColumn("feed", "Feed name."),
            SourceColumn("month", "Partition month of the delivery."),
            SourceColumn("file", "File name inside the month folder."),
            SourceColumn("line", "Record number of the rejected row in the file."),
            SourceColumn("column_name", "Column whose value failed the check, where one did."),
            SourceColumn("reason", "Why the row was rejected."),
            SourceColumn(
                "raw_text",
                "The row as it appeared in the file. Published (marts.load_rejects) only for feeds without "
                f"trader identity; null there for {_names(list(IDENTITY_FEEDS))}, whose lines hold the raw "
                "trader id.",
            ),
            SourceColumn("loaded_at", "UTC time of the load."),
        ),
    )


def quality_gate_table() -> SourceTable:
    reaching = [f for f in FEEDS if f.reaches]
    reached = [r.names for f in reaching for r in f.reaches]
    reach = (
        f", and for {_names([f.name for f in reaching])} the months of the {_names(reached)} their rows name"
        if reaching
        else ""
    )
    return SourceTable(
        name="quality_gate",
        description=(
            "The feed-months whose quality suite failed (withheld) or whose failure an operator accepted "
            f"(override), with every month their rows reach: its own{reach}."
        ),
        columns=(
            SourceColumn("feed", "Feed name."),
            SourceColumn("month", "A month whose figures the feed-month's rows feed (first day)."),
            SourceColumn("state", "withheld or override."),
            SourceColumn(
                "note",
                "What kpi_monthly.quality shows: 'withheld: <feed> <YYYY-MM> failed <expectations>' or "
                "'override: <by>, <reason>'.",
            ),
        ),
    )


def feed_table(feed: Feed) -> SourceTable:
    columns = [SourceColumn(c.name, c.source_description or c.description) for c in feed.columns]
    lineage = {"_month": feed.month_text, **LINEAGE_DESCRIPTIONS}
    columns += [SourceColumn(name, lineage[name]) for name, _ in LINEAGE_COLUMNS]
    return SourceTable(
        name=feed.name,
        description=feed.source_description or feed.description,
        columns=tuple(columns),
        asset_key=("raw", feed.name),
        feed_kind=feed.kind,
    )


def sources() -> tuple[Source, ...]:
    lineage = [name for name, _ in LINEAGE_COLUMNS]
    raw = Source(
        name="raw",
        description=(
            "The raw layer of the work database, filled by the Python loader from the monthly extracts in "
            "data/raw/<feed>/<YYYY-MM>/. Every row has passed the row checks of the feed contract; timestamps "
            "hold UTC, codes are upper case. Each feed table ends with the lineage columns "
            f"{_names(lineage)}."
        ),
        tables=(*(feed_table(f) for f in FEEDS), LOAD_AUDIT, rejects_table()),
    )
    meta = Source(
        name="meta",
        description=(
            "Bookkeeping of the orchestrator in the work database. quality_gate is written before each dbt "
            "build from the quality results of raw.load_audit and the operators' overrides."
        ),
        tables=(quality_gate_table(),),
    )
    return raw, meta


def _scalar(text: str) -> str:
    """A one-line YAML scalar: plain where YAML reads it back as the same text, else double-quoted."""
    try:
        plain = "\n" not in text and yaml.safe_load(f"description: {text}") == {"description": text}
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text, ensure_ascii=False)


def _description(text: str, indent: int) -> list[str]:
    pad = " " * indent
    if len(text) <= FOLD_ABOVE:
        return [f"{pad}description: {_scalar(text)}"]
    wrapped = textwrap.wrap(
        text, WIDTH - indent - 2, break_long_words=False, break_on_hyphens=False
    )
    return [f"{pad}description: >", *(f"{pad}  {line}" for line in wrapped)]


def _table(table: SourceTable) -> list[str]:
    lines = [f"      - name: {table.name}", *_description(table.description, 8)]
    if table.asset_key:
        key = ", ".join(json.dumps(part) for part in table.asset_key)
        lines += ["        config:", "          meta:"]
        if table.feed_kind:
            lines.append(f"            feed_kind: {table.feed_kind}")
        lines += ["            dagster:", f"              asset_key: [{key}]"]
    lines.append("        columns:")
    for col in table.columns:
        lines += [f"          - name: {col.name}", *_description(col.description, 12)]
        if col.published_only:
            lines += [
                "            config:",
                "              meta:",
                "                published_only: true",
            ]
    return lines


def _source(source: Source) -> str:
    lines = [
        f"  - name: {source.name}",
        f"    schema: {source.name}",
        *_description(source.description, 4),
    ]
    tables = "\n\n".join("\n".join(_table(t)) for t in source.tables)
    return "\n".join([*lines, "    tables:", tables])


def render() -> str:
    return "version: 2\n\nsources:\n" + "\n\n".join(_source(s) for s in sources()) + "\n"


if __name__ == "__main__":
    print(render(), end="")
