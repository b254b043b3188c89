"""After publishing: the scorecard report (HTML) and the data dictionary (dbt docs), for people."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from dagster_project.assets.publish import PUBLISHED_KEY
from dagster_project.publish.dictionary import generate_dictionary
from dagster_project.months import month_key
from dagster_project.report.render import scorecard_markdown, write_report
from dagster_project.runtime import context_months
from dagster_project.warehouse.resource import WarehouseResource

# `make docs` serves data/marts/ here (docs/ and report/).
SERVED_AT = "http://127.0.0.1:8080"


def build_report_assets(partitions: PartitionsDefinition) -> list[AssetsDefinition]:
    @asset(
        key=["scorecard_report"],
        deps=[PUBLISHED_KEY],
        group_name="publish",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"html"},
        description="data/marts/report/: the monthly scorecard as self-contained HTML (index.html and "
        "YYYY-MM.html), with baseline, target, actual, YTD, status and inline SVG charts; rendered from "
        "the published warehouse.",
    )
    def scorecard_report(
        context: AssetExecutionContext, warehouse: WarehouseResource
    ) -> MaterializeResult:
        settings = warehouse.settings()
        out = settings.marts_dir / "report"
        data, files = write_report(settings.published_db, out, settings=settings)
        if not data.months:
            return MaterializeResult(
                metadata={"report": MetadataValue.path(str(out / "index.html"))}
            )
        asked = [m for m in context_months(context) if m in data.months]
        month = asked[-1] if asked else data.months[-1]
        page = out / f"{month_key(month)}.html"
        context.log.info(f"scorecard report: {len(files)} pages in {out}")
        return MaterializeResult(
            metadata={
                "report": MetadataValue.url(page.as_uri()),
                "index": MetadataValue.url((out / "index.html").as_uri()),
                "served by make docs": MetadataValue.url(f"{SERVED_AT}/report/{page.name}"),
                "path": MetadataValue.path(str(page)),
                "month": month_key(month),
                "pages": len(files),
                "scorecard": MetadataValue.md(scorecard_markdown(data, month)),
            }
        )

    @asset(
        key=["data_dictionary"],
        deps=[PUBLISHED_KEY],
        group_name="publish",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"dbt", "html"},
        description="data/marts/docs/: the dbt docs site (static, one file) describing every published "
        "table and column; `make docs` serves it on 127.0.0.1.",
        pool="warehouse_db",
    )
    def data_dictionary(
        context: AssetExecutionContext, warehouse: WarehouseResource
    ) -> MaterializeResult:
        settings = warehouse.settings()
        result = generate_dictionary(settings)
        context.log.info(f"data dictionary: {result.index}")
        return MaterializeResult(
            metadata={
                "site": MetadataValue.url(result.index.as_uri()),
                "served by make docs": MetadataValue.url(f"{SERVED_AT}/docs/"),
                "path": MetadataValue.path(str(result.index)),
                "published tables documented": result.models,
                "columns documented": result.columns,
            }
        )

    return [scorecard_report, data_dictionary]
