"""Publishing: the marts become the file BI tools and analysts open."""


from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, BackfillPolicy, MaterializeResult, MetadataValue, asset

from dagster_project.partitions import MONTHLY
from dagster_project.publish.pseudonym import demo_secret
from dagster_project.publish.publisher import publish
from dagster_project.runtime import run_settings

PUBLISHED_KEY = AssetKey(["published_warehouse"])


def build_publish_asset(upstream: list[AssetKey]) -> AssetsDefinition:
    @asset(
        key=PUBLISHED_KEY,
        deps=upstream,
        group_name="publish",
        partitions_def=MONTHLY,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"duckdb", "parquet"},
        description="data/marts/warehouse.duckdb (schema marts) and one Parquet file per table, "
        "replaced atomically after a successful build; trader identity pseudonymised.",
        pool="warehouse_db",
    )
    def published_warehouse(context: AssetExecutionContext) -> MaterializeResult:
        settings = run_settings()
        secret = settings.secret or demo_secret(settings.work_dir / "pseudonym.key")
        result = publish(settings, secret)
        context.log.info(f"published {settings.published_db} with {len(result.tables)} tables")
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(result.path)),
                "tables": MetadataValue.md(
                    "| table | rows |\n|---|---|\n" + "\n".join(f"| marts.{t} | {n} |" for t, n in result.tables.items())
                ),
                **{f"rows/{t}": n for t, n in result.tables.items()},
            }
        )

    return published_warehouse
