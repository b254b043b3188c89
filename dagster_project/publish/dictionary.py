"""The data dictionary for analysts: `dbt docs generate` as a static site in marts/docs/.

The site is dbt's single-file `static_index.html` (manifest and catalog
embedded), so it opens from disk as well as over `make docs`. The catalog is
read from the work database, whose `marts` schema has the same tables and
columns as the published one; the published copy adds `load_audit` and
`load_rejects`, which the site documents as the sources `raw.load_audit` and
`raw.rejects`. dbt runs in its own target folder (under the work dir), so the
pipeline's manifest is never rewritten under a running code location.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from dagster_project.publish.publisher import LEDGER_TABLES
from dagster_project.publish.swap import build_dir, swap_dir, sweep
from dagster_project.settings import DBT_DIR, Settings
from dagster_project.transform.project import run_dbt

SITE_FILES = {
    "static_index.html": "index.html",
    "manifest.json": "manifest.json",
    "catalog.json": "catalog.json",
}


@dataclass
class Dictionary:
    path: Path  # the site folder
    index: Path
    models: int
    columns: int


# What the site is made of besides the dbt project: the raw tables' columns (the sources).
CONTRACT_FILE = Path(__file__).resolve().parents[1] / "contract" / "feeds.py"
FINGERPRINT = ".fingerprint"


def source_fingerprint() -> str:
    """A digest of everything the site documents: the dbt project's files (models, macros,
    seeds, settings), the feed contract and the dbt version. Data do not change it."""
    import dbt.version

    digest = hashlib.sha256(dbt.version.__version__.encode())
    skip = {"target", "logs", "dbt_packages", "sqlfluff_libs", "__pycache__"}
    for path in sorted(DBT_DIR.rglob("*")):
        rel = path.relative_to(DBT_DIR)
        if path.is_file() and not skip.intersection(rel.parts):
            digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    digest.update(CONTRACT_FILE.read_bytes())
    return digest.hexdigest()


def generate_dictionary(settings: Settings) -> Dictionary:
    """Regenerate the site when the project changed since the last one (or it is missing)."""
    target = settings.dbt_docs_dir
    target.mkdir(parents=True, exist_ok=True)
    # where a data dir from before kept it (it holds compiled SQL: not left behind)
    shutil.rmtree(settings.work_dir / "dbt_docs", ignore_errors=True)
    site = settings.marts_dir / "docs"
    fingerprint = source_fingerprint()
    stamp = target / FINGERPRINT
    if (
        (site / "index.html").is_file()
        and (site / "manifest.json").is_file()
        and stamp.is_file()
        and stamp.read_text(encoding="utf-8") == fingerprint
    ):
        return _describe(site)
    stamp.unlink(missing_ok=True)
    # The run's DuckDB `dbt build` (or, on Spark, its DuckDB shells) left a manifest with compiled
    # SQL in the data dir's target: reuse it and skip compiling again; without one, dbt parses
    # and compiles here.
    built = settings.dbt_target_dir("duckdb")
    reuse = (built / "manifest.json").is_file()
    for name in ("manifest.json", "partial_parse.msgpack"):
        (target / name).unlink(missing_ok=True)
        if reuse and (built / name).is_file():
            shutil.copy2(built / name, target / name)
    run_dbt(
        [
            "docs",
            "generate",
            "--static",
            *(["--no-compile"] if reuse else []),
            "--log-path",
            str(target),
        ],
        settings.dbt_process_env(engine="duckdb"),
        target_path=target,
    )

    sweep(site)
    build = build_dir(site)
    try:
        for name, published in SITE_FILES.items():
            shutil.copy2(target / name, build / published)
        swap_dir(build, site)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    stamp.write_text(fingerprint, encoding="utf-8")
    return _describe(site)


def _describe(site: Path) -> Dictionary:
    manifest = json.loads((site / "manifest.json").read_text(encoding="utf-8"))
    marts = published_nodes(manifest)
    return Dictionary(
        site, site / "index.html", len(marts), sum(len(n["columns"]) for n in marts.values())
    )


def published_nodes(manifest: dict) -> dict[str, dict]:
    """Published table name -> the manifest node that documents it (marts models by alias, ledger sources)."""
    out: dict[str, dict] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node.get("schema") == "marts":
            out[node.get("alias") or node["name"]] = node
    sources = {f"{s['schema']}.{s['name']}": s for s in manifest["sources"].values()}
    for table, relation in LEDGER_TABLES.items():
        if relation in sources:
            out[table] = sources[relation]
    return out


def undocumented_columns(manifest: dict, published: dict[str, list[str]]) -> list[str]:
    """`table.column` for every published column without a description (or a table without a node)."""
    nodes = published_nodes(manifest)
    missing = []
    for table, columns in published.items():
        node = nodes.get(table)
        if node is None:
            missing.append(f"{table}.*")
            continue
        described = {
            c: (meta.get("description") or "").strip() for c, meta in node["columns"].items()
        }
        missing += [f"{table}.{c}" for c in columns if not described.get(c)]
    return missing
