"""Read-only consumers on a real run: never blocked, never half a month, old clients welcome.

While `customs-kpi run` publishes 2024-07 over a warehouse holding 2024-06,
the DuckDB 1.5 CLI and SQLAlchemy (duckdb_engine) query marts.kpi_monthly in
a loop, with a new connection per query and with one connection held open
(tests/bi_world.py). The SQLAlchemy readers connect with the Superset
connection strings of docs/bi.md, read from the page. Every answer must be
the complete old state or the complete new state.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.bi_world import (
    DOC_DB,
    MONTHS,
    QUERY,
    SUPERSET_FORMS,
    cli_query,
    documented_blocks,
    reader_command,
    superset_connection,
)

pytestmark = pytest.mark.slow


def test_the_run_publishes_while_readers_hold_the_file(bi_world):
    assert bi_world.run.returncode == 0, bi_world.run.stdout[-3000:] + bi_world.run.stderr[-3000:]
    assert "published" in bi_world.run.stdout
    held = [r for r in bi_world.readers if r.held]
    for r in held:  # they really were reading before, during and after the run
        assert any(o["t"] < bi_world.run_started for o in r.observations), r.name
        assert r.seen_after(bi_world.run_ended) >= 1, r.name


def test_no_reader_query_fails(bi_world):
    for r in bi_world.readers:
        errors = [o["error"] for o in r.observations if "error" in o]
        assert not errors, f"{r.name}: {errors[:3]}"
        assert len(r.observations) >= 3, r.name


def test_every_answer_is_a_complete_month_set_old_or_new(bi_world):
    old, new = bi_world.state(MONTHS[:1]), bi_world.state(MONTHS)
    for r in bi_world.readers:
        for o in r.observations:
            assert o["rows"] in (old, new), f"{r.name} saw a partial state: {o['rows']}"


def test_new_connections_move_from_old_to_new_exactly_once(bi_world):
    old, new = bi_world.state(MONTHS[:1]), bi_world.state(MONTHS)
    for r in bi_world.readers:
        if r.held:
            continue
        states = [o["rows"] == new for o in r.observations]
        assert states[0] is False and states[-1] is True, f"{r.name} did not overlap the publish"
        flip = states.index(True)
        assert all(states[flip:]), f"{r.name} saw the old state again after the new one"
        assert all(o["rows"] == old for o in r.observations if o["t"] < bi_world.run_started)
        assert all(o["rows"] == new for o in r.observations if o["t"] > bi_world.run_ended)


def test_a_held_connection_keeps_the_file_it_opened(bi_world):
    old = bi_world.state(MONTHS[:1])
    for r in bi_world.readers:
        if r.held:
            assert all(o["rows"] == old for o in r.observations), r.name


def test_a_new_connection_after_the_publish_sees_the_new_month(bi_world):
    db = bi_world.settings.published_db
    new = bi_world.state(MONTHS)
    rows = [[m, int(a), int(b)] for m, a, b in cli_query(db, QUERY)]
    assert rows == new
    for form in SUPERSET_FORMS:
        proc = subprocess.run(
            reader_command(db, form, held=False, args=("--once", "--probe-write")),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        first = json.loads(proc.stdout.splitlines()[0])
        assert first.get("rows") == new, (form, first)
        assert "read-only mode" in first["write"], (form, first)


def test_the_old_cli_reads_every_published_table_and_parquet_file(bi_world):
    settings = bi_world.settings
    listed = cli_query(
        settings.published_db,
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = 'marts' ORDER BY 1",
    )
    tables = [name for name, kind in listed if kind == "BASE TABLE"]
    views = [name for name, kind in listed if kind == "VIEW"]
    assert {"fct_declarations", "kpi_catalog", "kpi_monthly", "trs_monthly", "load_audit"} <= set(
        tables
    )
    version = cli_query(settings.published_db, "SELECT version()")[0][0]
    assert version.startswith("v1.5"), version
    # the evidence views (published as views, no Parquet) bind and query in the old CLI
    assert "kpi_evidence" in views and len(views) == 11, views
    version = (
        settings.marts_dir / "parquet"
    ).resolve()  # resolve the link once, as docs/analysts.md says
    for v in views:
        assert int(cli_query(settings.published_db, f"SELECT count(*) FROM marts.{v}")[0][0]) > 0, v
        assert not (version / f"{v}.parquet").exists() and not (version / v).exists(), v
    for t in tables:
        n_db = int(cli_query(settings.published_db, f"SELECT count(*) FROM marts.{t}")[0][0])
        parquet = version / f"{t}.parquet"
        if not parquet.is_file():  # a Hive-partitioned dataset, one folder per month
            parquet = f"{version / t}/*/*.parquet"
        n_pq = int(
            cli_query(
                settings.published_db,
                f"SELECT count(*) FROM read_parquet('{parquet}', hive_partitioning = true)",
            )[0][0]
        )
        assert n_db == n_pq, t


def superset_readers(bi_world):
    return [r for r in bi_world.readers if r.client == "sqlalchemy"]


def test_both_superset_forms_of_docs_bi_md_were_read_during_the_publish(bi_world):
    fresh = {r.form for r in superset_readers(bi_world) if not r.held}
    assert fresh == set(SUPERSET_FORMS)
    for r in superset_readers(bi_world):
        assert any(o["t"] < bi_world.run_started for o in r.observations), r.name
        assert r.seen_after(bi_world.run_ended) >= 1, r.name


def test_every_superset_connection_is_read_only(bi_world):
    """Each connection tried a write after its query: DuckDB refused it as read-only, not for a lock."""
    for r in superset_readers(bi_world):
        probes = [o.get("write") for o in r.observations]
        assert len(probes) >= 3, r.name
        refused = [p for p in probes if p and "read-only mode" in p]
        assert refused == probes, f"{r.name}: {[p for p in probes if p not in refused][:3]}"


def test_a_superset_connection_sees_the_republish_at_its_next_query(bi_world):
    old, new = bi_world.state(MONTHS[:1]), bi_world.state(MONTHS)
    for r in superset_readers(bi_world):
        assert all(o.get("rows") in (old, new) for o in r.observations), r.name
        if r.held:
            continue
        before = [o for o in r.observations if o["t"] < bi_world.run_started]
        after = [o for o in r.observations if o["t"] > bi_world.run_ended]
        assert before and all(o["rows"] == old for o in before), r.name
        assert after and after[0]["rows"] == new, (
            f"{r.name}: first query after the publish: {after[:1]}"
        )


def test_superset_strings_come_from_docs_bi_md_with_the_path_substituted(tmp_path):
    blocks = documented_blocks()
    db = tmp_path / "marts" / "warehouse.duckdb"
    for form, names in SUPERSET_FORMS.items():
        url, params = superset_connection(form, db)
        assert url == blocks[names[0]].replace(DOC_DB, str(db)) and str(db) in url, form
        assert json.loads(params) == (json.loads(blocks[names[1]]) if names[1] else {}), form
    doc = tmp_path / "bi.md"
    doc.write_text(BI_DOC_WITHOUT_ENGINE_PARAMS, encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"bi\.md: no fenced block marked .*superset-engine-params"
    ):
        superset_connection("engine-params", db, doc)
    doc.write_text(
        BI_DOC_WITHOUT_ENGINE_PARAMS.replace(DOC_DB, "/elsewhere/w.duckdb"), encoding="utf-8"
    )
    with pytest.raises(
        ValueError, match=r"bi\.md: block 'superset-uri' is not one URI on /srv/customs"
    ):
        superset_connection("uri", db, doc)


BI_DOC_WITHOUT_ENGINE_PARAMS = f"""# Connecting BI tools

<!-- tested: superset-uri -->
```
duckdb:///{DOC_DB}?access_mode=read_only
```

<!-- tested: superset-plain-uri -->
```
duckdb:///{DOC_DB}
```
"""
