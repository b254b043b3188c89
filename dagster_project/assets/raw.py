"""Raw-layer assets: one monthly-partitioned asset per feed of the contract."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetChecksDefinition,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    TableColumn,
    TableSchema,
    asset,
    asset_check,
)

from dagster_project.contract import FEEDS, Feed
from dagster_project.contract.catalog import code_sets
from dagster_project.ingest.files import FileFault
from dagster_project.months import month_key
from dagster_project.ingest.loader import LoadResult, load_feed_month, record_file_fault
from dagster_project.runtime import context_months
from dagster_project.warehouse.resource import WarehouseResource


def raw_asset_key(feed: Feed) -> AssetKey:
    return AssetKey(["raw", feed.name])


def contract_schema(feed: Feed) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                c.name,
                c.type_label,
                description=c.description + (" (required)" if c.required else ""),
            )
            for c in feed.columns
        ]
    )


def summarise(results: list[LoadResult]) -> str:
    lines = ["| month | files | read | accepted | rejected |", "|---|---|---|---|---|"]
    for r in results:
        if r.delivered:
            lines.append(
                f"| {month_key(r.month)} | {len(r.files)} | {r.rows_read} | {r.rows_accepted} | {r.rows_rejected} |"
            )
        else:
            lines.append(f"| {month_key(r.month)} | no delivery | | | |")
    return "\n".join(lines)


def build_raw_asset(feed: Feed, partitions: PartitionsDefinition) -> AssetsDefinition:
    @asset(
        key=raw_asset_key(feed),
        name=None,
        group_name="raw",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"duckdb", "csv"},
        description=f"{feed.description} Loaded from data/raw/{feed.name}/<YYYY-MM>/ "
        f"({feed.kind} feed{', anchor ' + feed.anchor if feed.anchor else ''}).",
        metadata={"dagster/column_schema": contract_schema(feed), "feed_kind": feed.kind},
        pool="warehouse_db",
    )
    def _raw(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        settings = warehouse.settings()
        sets = code_sets()
        results: list[LoadResult] = []
        faults: list[FileFault] = []
        with warehouse.work_db(settings) as con:
            for month in context_months(context):
                try:
                    result = load_feed_month(
                        con,
                        feed,
                        month,
                        raw_dir=settings.raw_dir,
                        tz=settings.tz,
                        code_sets=sets,
                        limits=settings.read_limits,
                    )
                except FileFault as fault:
                    context.log.error(str(fault))
                    record_file_fault(con, fault)
                    faults.append(fault)
                    continue
                results.append(result)
                if result.delivered:
                    context.log.info(
                        f"{feed.name} {month_key(month)}: read {result.rows_read}, accepted {result.rows_accepted}, "
                        f"rejected {result.rows_rejected} ({len(result.files)} file(s))"
                    )
        if faults:
            raise Failure(
                description="; ".join(str(f) for f in faults),
                metadata={
                    "faults": MetadataValue.json(
                        [
                            {
                                "feed": f.feed,
                                "month": month_key(f.month),
                                "file": f.file,
                                "fault": f.fault,
                            }
                            for f in faults
                        ]
                    )
                },
            )
        delivered = [r for r in results if r.delivered]
        return MaterializeResult(
            metadata={
                "rows_read": sum(r.rows_read for r in delivered),
                "rows_accepted": sum(r.rows_accepted for r in delivered),
                "rows_rejected": sum(r.rows_rejected for r in delivered),
                "months_delivered": len(delivered),
                "months_without_delivery": MetadataValue.json(
                    [month_key(r.month) for r in results if not r.delivered]
                ),
                "loads": MetadataValue.md(summarise(results)),
            }
        )

    return _raw


def build_balance_check(feed: Feed) -> AssetChecksDefinition:
    @asset_check(
        asset=raw_asset_key(feed),
        name="rows_balance",
        blocking=True,
        description="Every row read is accepted or rejected: per file, read = accepted + rejected, "
        "and the raw table and rejects table hold exactly those rows.",
    )
    def _check(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> AssetCheckResult:
        with warehouse.work_db() as con:
            rows = con.execute(
                f"""
                WITH audit AS (
                    SELECT month, sum(rows_read) AS read, sum(rows_accepted) AS accepted, sum(rows_rejected) AS rejected
                    FROM raw.load_audit WHERE feed = ? GROUP BY month
                ), raw_rows AS (
                    SELECT _month AS month, count(*) AS n FROM {feed.raw_table} GROUP BY _month
                ), rejects AS (
                    SELECT month, count(*) AS n FROM raw.rejects WHERE feed = ? GROUP BY month
                )
                SELECT strftime(a.month, '%Y-%m'), a.read, a.accepted, a.rejected, coalesce(r.n, 0), coalesce(j.n, 0)
                FROM audit a LEFT JOIN raw_rows r USING (month) LEFT JOIN rejects j USING (month)
                WHERE a.read <> a.accepted + a.rejected OR a.accepted <> coalesce(r.n, 0) OR a.rejected <> coalesce(j.n, 0)
                ORDER BY 1
                """,
                [feed.name, feed.name],
            ).fetchall()
        return AssetCheckResult(
            passed=not rows,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "unbalanced_months": MetadataValue.json(
                    [
                        dict(
                            zip(
                                [
                                    "month",
                                    "read",
                                    "accepted",
                                    "rejected",
                                    "raw_rows",
                                    "reject_rows",
                                ],
                                r,
                            )
                        )
                        for r in rows
                    ]
                )
            },
        )

    return _check


def raw_assets(partitions: PartitionsDefinition) -> list[AssetsDefinition]:
    return [build_raw_asset(f, partitions) for f in FEEDS]


def raw_checks() -> list[AssetChecksDefinition]:
    return [build_balance_check(f) for f in FEEDS]
