"""Publishing: the marts become the file BI tools and analysts open."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from dagster_project.publish.pseudonym import MissingSecret, resolve_secret
from dagster_project.publish.publisher import open_published, publish
from dagster_project.warehouse.resource import WarehouseResource

PUBLISHED_KEY = AssetKey(["published_warehouse"])


def rows_table(tables: dict[str, int]) -> str:
    return "| table | rows |\n|---|---:|\n" + "\n".join(
        f"| marts.{t} | {n:,} |" for t, n in tables.items()
    )


def build_publish_asset(
    upstream: list[AssetKey], partitions: PartitionsDefinition
) -> AssetsDefinition:
    @asset(
        key=PUBLISHED_KEY,
        deps=upstream,
        group_name="publish",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"duckdb", "parquet"},
        description="data/marts/warehouse.duckdb (schema marts) and the Parquet set data/marts/parquet/ "
        "(one file per table, fct_declarations partitioned by month), each replaced atomically after a "
        "successful build; trader identity pseudonymised "
        "(refuses to publish without CUSTOMS_KPI_SECRET, except in the demo).",
        pool="warehouse_db",
    )
    def published_warehouse(
        context: AssetExecutionContext, warehouse: WarehouseResource
    ) -> MaterializeResult:
        settings = warehouse.settings()
        try:
            secret, key_source = resolve_secret(settings)
        except MissingSecret as exc:
            raise Failure(description=str(exc), allow_retries=False) from exc
        if not settings.secret:
            context.log.warning(
                f"demo run: trader ids pseudonymised with the generated {key_source}"
            )
        result = publish(settings, secret)
        context.log.info(
            f"published {settings.published_db} with {len(result.tables)} tables and {len(result.views)} views"
        )
        with open_published(result.path, settings) as con:
            months = con.execute(
                "SELECT strftime(min(month), '%Y-%m'), strftime(max(month), '%Y-%m') FROM marts.kpi_monthly"
            ).fetchall()[0]
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(result.path)),
                "parquet": MetadataValue.path(str(result.parquet)),
                "tables": MetadataValue.md(rows_table(result.tables)),
                "views": ", ".join(result.views) or "none",
                "months": f"{months[0]} .. {months[1]}" if months[0] else "none",
                "publish": "changed months only (copy of the last file)"
                if result.incremental
                else "in full",
                "pseudonym key": "CUSTOMS_KPI_SECRET"
                if settings.secret
                else "demo key (generated)",
                **{f"rows/{t}": n for t, n in result.tables.items()},
            }
        )

    return published_warehouse
