"""The synthetic extract generator: determinism, the committed sample, the contract, the story."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dagster_project.contract import FEEDS, Column, Feed, feed_by_name
from dagster_project.contract.countries import ISO_3166_ALPHA2, default_region
from dagster_project.generate import SAMPLE, GeneratorError, generate
from dagster_project.generate import events, synth
from dagster_project.generate.dirty import KINDS
from dagster_project.generate.frame import Frame

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "data" / "raw"
GO_LIVE = pd.Timestamp("2024-07-01", tz="UTC")


# ---- reading what the generator wrote (independently of the loader) ----------------------


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def records(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and records of one data file, as text (CSV quoting rules, any delimiter)."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return table.column_names, [["" if v is None else v for v in row] for row in zip(*cols)]
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return [h.strip().lower() for h in rows[0]], rows[1:]


def faults(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / synth.FAULTS_FILE, dtype=str, keep_default_na=False)


def load_clean(root: Path, feed: str) -> pd.DataFrame:
    """Every clean row of a feed (rows listed in the fault log left out), with its folder month."""
    bad = faults(root)
    bad = set(zip(bad["file"], bad["record"].astype(int)))
    frames = []
    for path in sorted((root / feed).glob("*/*")):
        header, rows = records(path)
        keep = [r for i, r in enumerate(rows, start=2) if (path.name, i) not in bad]
        df = pd.DataFrame(keep, columns=header, dtype=str).replace("", None)
        df["_month"] = path.parent.name
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def instants(values: pd.Series, tz: str) -> pd.Series:
    """ISO text to UTC instants: an offset where written, else local time in tz."""
    s = values.astype("string")
    has_offset = s.str.contains(r"(?:Z|[+-]\d\d:\d\d)$", regex=True, na=False)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        out[has_offset] = pd.to_datetime(s[has_offset], format="ISO8601", utc=True)
    naive = ~has_offset & s.notna()
    if naive.any():
        local = pd.to_datetime(s[naive], format="ISO8601")
        out[naive] = local.dt.tz_localize(
            tz, ambiguous=np.ones(int(naive.sum()), dtype=bool), nonexistent="shift_forward"
        ).dt.tz_convert("UTC")
    return out


def local_month(t: pd.Series, tz: str) -> pd.Series:
    return t.dt.tz_convert(tz).dt.strftime("%Y-%m")


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, **SAMPLE)
    return out


@pytest.fixture(scope="module")
def story(sample) -> dict[str, pd.DataFrame]:
    return build_story(sample)


def build_story(sample: Path) -> dict[str, pd.DataFrame]:
    """Clean declarations with AEO flag, final lane and durations, from a generated tree."""
    decl = load_clean(sample, "declarations")
    for col in ("arrival_at", "lodged_at", "released_at"):
        decl[col] = instants(decl[col], "UTC")
    decl["customs_value"] = decl["customs_value"].astype(float)
    decl["is_paperless"] = decl["is_paperless"].str.lower().isin(["true", "1", "y", "yes"])
    decl["declaration_type"] = decl["declaration_type"].str.upper()

    reg = load_clean(sample, "aeo_register")
    latest = reg[reg["_month"] == reg["_month"].max()]
    ok = latest[latest["decision"].str.upper() == "APPROVED"].copy()
    for col in ("valid_from", "valid_to", "revoked_at"):
        ok[col] = pd.to_datetime(ok[col])
    ok["end"] = ok[["valid_to", "revoked_at"]].min(axis=1).fillna(pd.Timestamp("2100-01-01"))
    day = decl["lodged_at"].dt.tz_localize(None).dt.normalize()
    merged = decl[["trader_id"]].assign(day=day, row=np.arange(len(decl))).merge(ok, on="trader_id")
    aeo_rows = merged[(merged["valid_from"] <= merged["day"]) & (merged["day"] < merged["end"])][
        "row"
    ]
    decl["aeo"] = False
    decl.loc[aeo_rows.unique(), "aeo"] = True

    lanes = load_clean(sample, "lanes")
    lanes["assigned_at"] = instants(lanes["assigned_at"], "UTC")
    lanes["lane"] = lanes["lane"].str.upper()
    final = lanes.sort_values("assigned_at", kind="stable").groupby("declaration_id").tail(1)
    decl = decl.merge(final[["declaration_id", "lane"]], on="declaration_id", how="left")
    decl["hours"] = (decl["released_at"] - decl["lodged_at"]).dt.total_seconds() / 3600
    return {"declarations": decl, "register": reg, "latest_approved": ok, "lanes": lanes}


# ---- determinism and the committed sample ----------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    args = dict(
        month_from="2024-06", month_to="2024-08", declarations_per_month=300, tz="Asia/Almaty"
    )
    generate(tmp_path / "a", seed=7, **args)
    generate(tmp_path / "b", seed=7, **args)
    generate(tmp_path / "c", seed=8, **args)
    a, b, c = (files_of(tmp_path / x) for x in "abc")
    assert a == b
    assert a != c


def test_committed_sample_is_reproduced_exactly(sample):
    committed = files_of(SAMPLE_DIR)
    fresh = files_of(sample)
    assert sorted(committed) == sorted(fresh)
    assert [k for k in fresh if fresh[k] != committed[k]] == []


def test_writer_chunks_and_threads_do_not_change_the_bytes(tmp_path, monkeypatch):
    args = dict(
        month_from="2024-12", month_to="2025-01", declarations_per_month=3000, sample_formats=False
    )
    monkeypatch.setattr(events, "DECLARATION_CHUNK", 1000)
    monkeypatch.setattr(synth.os, "cpu_count", lambda: 4)
    generate(tmp_path / "a", **args)
    monkeypatch.setattr(synth, "CHUNK_ROWS", 97)
    monkeypatch.setattr(synth.os, "cpu_count", lambda: 1)
    generate(tmp_path / "b", **args)
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")


def test_rerun_replaces_a_month_whole(tmp_path):
    args = dict(month_from="2024-04", month_to="2024-04", declarations_per_month=200)
    generate(tmp_path, **args)
    generate(tmp_path, sample_formats=False, **args)
    assert sorted(p.name for p in (tmp_path / "declarations" / "2024-04").iterdir()) == [
        "declarations_2024-04.csv"
    ]


# ---- the contract ------------------------------------------------------------------------------


def test_layout_and_headers_follow_the_contract(sample):
    kinds = set()
    for path in sorted(sample.rglob("*")):
        if path.is_dir() or path.parent == sample:
            continue
        feed, month = path.parent.parent.name, path.parent.name
        assert pd.Period(month, "M") and feed in [f.name for f in FEEDS]
        assert path.name.endswith((".csv", ".csv.gz", ".parquet")) and not path.name.startswith(".")
        header, rows = records(path)
        assert header == feed_by_name(feed).column_names, path
        kinds.add(path.name.rsplit("_", 1)[-1].split(".", 1)[-1])
    raw = {p.read_bytes()[:3] for p in sample.rglob("*.csv")}
    assert b"\xef\xbb\xbf" in raw and kinds >= {"csv", "csv.gz", "parquet"}
    assert len(list(sample.rglob("*.parquet"))) == 1


def test_sample_formats(sample):
    legacy = sample / "declarations" / "2024-03" / "declarations_2024-03.csv"
    data = legacy.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfDECLARATION_ID;") and b"\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")
    plain = (sample / "declarations" / "2024-08" / "declarations_2024-08.csv").read_bytes()
    assert plain.startswith(b"declaration_id,") and b"\r" not in plain
    assert len(list((sample / "declarations" / "2024-10").iterdir())) == 2
    table = pq.read_table(next(sample.glob("drawback/*/*.parquet")))
    assert {str(t) for t in table.schema.types} == {"string"}
    text = "".join(
        gzip.decompress(p.read_bytes()).decode("utf-8-sig") for p in sorted(sample.rglob("*.gz"))
    )
    text += "".join(
        p.read_text("utf-8-sig") for p in sorted(sample.rglob("*.csv")) if p.parent != sample
    )
    assert '"Risk management, selectivity"' in text and '"Payments; e-banking gateway"' in text
    for form in (
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,;\r\n]",
        r"\d{4}-\d\d-\d\dT\d\d:\d\d[,;\r\n]",
        r"T\d\d:\d\d:\d\dZ",
        r"T\d\d:\d\d:\d\d\+05:00",
        r"T\d\d:\d\d:\d\d\+00:00",
    ):
        assert re.search(form, text), form


def test_register_snapshots_grow_and_decide(sample):
    reg = load_clean(sample, "aeo_register")
    months = sorted(reg["_month"].unique())
    assert not reg.duplicated(["_month", "application_id"]).any()
    ids = [set(reg.loc[reg["_month"] == m, "application_id"]) for m in months]
    assert all(a <= b for a, b in zip(ids, ids[1:]))
    submitted = local_month(instants(reg["submitted_at"], "UTC"), "UTC")
    assert (submitted <= reg["_month"]).all()
    state = reg.pivot(index="application_id", columns="_month", values="decision").apply(
        lambda c: c.str.upper()
    )
    decided_later = (state[months[0]] == "PENDING") & (state[months[-1]] == "APPROVED")
    assert decided_later.sum() >= 1


def test_field_counts_match_header_except_the_logged_faults(sample):
    log = faults(sample)
    wrong = {
        (r.file, int(r.record)): r.kind for r in log.itertuples() if r.kind.endswith("_fields")
    }
    seen = {}
    for path in sorted(sample.glob("*/*/*")):
        header, rows = records(path)
        for i, row in enumerate(rows, start=2):
            if len(row) != len(header):
                seen[(path.name, i)] = (
                    "too_few_fields" if len(row) < len(header) else "too_many_fields"
                )
    assert seen == wrong


def test_every_clean_value_parses(story, sample):
    decl = story["declarations"]
    assert decl["lodged_at"].notna().all()
    assert set(decl["partner_country"]) <= ISO_3166_ALPHA2
    assert {default_region(c) for c in decl["partner_country"]} == {
        "central_asia",
        "eu_us",
        "east_asia",
        "other",
    }
    assert (
        decl["trader_id"].str.fullmatch(r"\d{9}").all()
        and decl["trader_id"].str.startswith("0").mean() > 0.9
    )
    assert decl["hs_code"].str.fullmatch(r"\d{6,10}").all()
    released = decl["released_at"].notna()
    assert (decl.loc[released, "released_at"] >= decl.loc[released, "lodged_at"]).all()
    manual = load_clean(sample, "manual")
    assert not manual.duplicated(["_month", "kpi_id"]).any()
    assert set(manual["kpi_id"]) == set(synth.V.MANUAL_KPIS)


@pytest.mark.parametrize("feed", ["declarations", "lanes", "drawback", "tickets"])
def test_anchor_of_every_clean_row_is_in_its_folder_month(sample, feed):
    df = load_clean(sample, feed)
    anchor = instants(df[feed_by_name(feed).anchor], "UTC")
    assert (local_month(anchor, "UTC") == df["_month"]).all()


def test_anchor_and_offsets_in_a_zone_that_changed_its_offset(tmp_path):
    tz = "Asia/Almaty"
    generate(tmp_path, "2024-02", "2024-03", declarations_per_month=2000, seed=3, tz=tz)
    for feed in ("declarations", "lanes", "drawback", "tickets"):
        df = load_clean(tmp_path, feed)
        anchor = instants(df[feed_by_name(feed).anchor], tz)
        assert (local_month(anchor, tz) == df["_month"]).all(), feed
    # every timestamp form denotes the instant the row's other timestamps imply
    decl = load_clean(tmp_path, "declarations")
    lodged, released = instants(decl["lodged_at"], tz), instants(decl["released_at"], tz)
    assert (released.dropna() >= lodged[released.notna()]).all()


def test_cross_month_rows_exist(sample):
    lanes = load_clean(sample, "lanes")
    month_code = lanes["declaration_id"].str.slice(2, 6)
    folder_code = lanes["_month"].str.slice(2, 4) + lanes["_month"].str.slice(5, 7)
    assert (month_code != folder_code).sum() >= 10
    tickets = load_clean(sample, "tickets")
    due = local_month(instants(tickets["due_at"], "UTC"), "UTC")
    assert (due.notna() & (due > tickets["_month"])).sum() >= 10


def test_a_contract_column_without_generator_logic_is_a_clear_error(tmp_path, monkeypatch):
    decl = feed_by_name("declarations")
    widened = replace(decl, columns=decl.columns + (Column("broker_id", "text", False),))
    monkeypatch.setattr(
        synth, "FEEDS", (widened,) + tuple(f for f in FEEDS if f.name != "declarations")
    )
    with pytest.raises(GeneratorError, match="declarations.broker_id"):
        generate(tmp_path, "2024-01", "2024-01", declarations_per_month=50)
    retyped = replace(decl, columns=decl.columns + (Column("net_mass", "decimal", False),))
    monkeypatch.setattr(
        synth, "FEEDS", (retyped,) + tuple(f for f in FEEDS if f.name != "declarations")
    )
    with pytest.raises(GeneratorError, match="declarations.net_mass"):
        generate(tmp_path, "2024-01", "2024-01", declarations_per_month=50)


def test_a_new_feed_needs_only_its_month_function(tmp_path, monkeypatch):
    """Key ids, shared ids and codes of a new feed come from the contract; its rows from events.py."""
    permits = Feed(
        name="permits_test",  # not "permits": the recipe adds that one
        kind="event",
        description="Import permits.",
        anchor="issued_at",
        key="permit_id",
        columns=(
            Column("permit_id", "text", True),
            Column("permit_type", "code", True, codes=("SPS", "DUAL_USE", "OTHER")),
            Column("issued_at", "timestamp", True),
            Column("declaration_id", "text", False),
        ),
    )
    monkeypatch.setattr(synth, "FEEDS", FEEDS + (permits,))
    with pytest.raises(
        GeneratorError,
        match=r'no generator logic for feed permits_test.*feed_month\("permits_test"\)',
    ):
        generate(tmp_path, "2024-01", "2024-01", declarations_per_month=50)

    def permits_month(rng, period, i, declarations_per_month):
        start, end = period.bounds(i)
        n = 5
        return Frame(
            {
                "permit_id": events.make_ids(period.months[i], n),
                "permit_type": rng.integers(0, 3, n),
                "issued_at": np.sort(rng.integers(start, end, n)),
                "declaration_id": np.where(
                    np.arange(n) % 2 == 0, events.make_ids(period.months[i], n), -1
                ),
            }
        )

    monkeypatch.setitem(events.FEED_MONTHS, "permits_test", permits_month)
    generate(tmp_path, "2024-01", "2024-01", declarations_per_month=50, sample_formats=False)
    header, rows = records(tmp_path / "permits_test" / "2024-01" / "permits_test_2024-01.csv")
    assert header == permits.column_names
    assert [r[0] for r in rows] == [f"PE2401-{k:05d}" for k in range(1, 6)]
    assert {r[1] for r in rows} <= set(permits.column("permit_type").codes)
    assert [r[3] for r in rows] == ["DC2401-000001", "", "DC2401-000003", "", "DC2401-000005"]

    other = replace(permits, columns=permits.columns + (Column("issuer", "text", False),))
    monkeypatch.setattr(synth, "FEEDS", FEEDS + (other,))
    with pytest.raises(GeneratorError, match="text column permits_test.issuer"):
        generate(tmp_path, "2024-01", "2024-01", declarations_per_month=50)
    monkeypatch.setattr(synth, "FEEDS", FEEDS)
    with pytest.raises(GeneratorError, match="registered for permits_test, not a feed"):
        generate(tmp_path, "2024-01", "2024-01", declarations_per_month=50)


def test_weights_that_do_not_fit_the_contracts_codes_are_a_clear_error(tmp_path, monkeypatch):
    lanes = feed_by_name("lanes")
    lane = lanes.column("lane")
    fewer = replace(lane, codes=lane.codes[:3])
    narrowed = replace(lanes, columns=tuple(fewer if c is lane else c for c in lanes.columns))
    monkeypatch.setattr(synth, "FEEDS", tuple(narrowed if f is lanes else f for f in FEEDS))
    with pytest.raises(
        GeneratorError, match="weight table of lanes.lane .* 4 entries, the contract has 3"
    ):
        generate(tmp_path, "2024-01", "2024-01", declarations_per_month=50)


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(GeneratorError, match="YYYY-MM"):
        generate(tmp_path, "2024-1", "2024-02")
    with pytest.raises(GeneratorError, match="before"):
        generate(tmp_path, "2024-03", "2024-02")
    with pytest.raises(GeneratorError, match="time zone"):
        generate(tmp_path, "2024-01", "2024-01", tz="Mars/Olympus")


def test_the_command_reports_bad_arguments_in_one_line(tmp_path, capsys, monkeypatch):
    """`customs-kpi generate` prints the generator's refusal as an error and exits 2, as `run`
    does for its settings, with no traceback."""
    from dagster_project.cli import main

    monkeypatch.setenv("CUSTOMS_KPI_DATA_DIR", str(tmp_path / "data"))
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    out = str(tmp_path / "raw")
    cases = [
        (["--from", "2024-02", "--to", "2024-01", "--out", out], "month_to 2024-01 is before"),
        (
            ["--from", "2024-01", "--to", "2024-01", "--out", out, "--declarations-per-month", "0"],
            "declarations_per_month must be at least 1",
        ),
        (["--from", "2024-01", "--to", "2024-01", "--out", str(taken)], f"{taken} is a file"),
    ]
    for args, message in cases:
        assert main(["generate", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: generate: ") and message in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "raw").exists()


# ---- dirty rows ----------------------------------------------------------------------------------


def test_every_fault_kind_is_injected_and_logged(sample):
    manifest = json.loads((sample / synth.MANIFEST).read_text())
    assert set(manifest["faults"]) == set(KINDS)
    assert all(v > 0 for v in manifest["faults"].values())
    log = faults(sample)
    assert len(log) == manifest["dirty_rows"] == sum(manifest["faults"].values())
    assert not log.duplicated(["file", "record"]).any()
    share = manifest["dirty_rows"] / sum(manifest["rows"].values())
    assert 0.002 <= share <= 0.005


def test_logged_faults_break_what_they_say(sample):
    log = faults(sample)
    decl = pd.concat([load_clean(sample, "declarations")])
    by_kind = log.groupby("kind")
    for kind in ("duplicate_id_in_month", "duplicate_id_earlier_month"):
        assert set(by_kind.get_group(kind)["feed"]) <= {
            "declarations",
            "drawback",
            "tickets",
            "aeo_register",
        }
    # a duplicate from an earlier month repeats an id that a clean row of an earlier month holds
    earlier = log[(log["kind"] == "duplicate_id_earlier_month") & (log["feed"] == "declarations")]
    for r in earlier.itertuples():
        header, rows = records(sample / "declarations" / r.month / r.file)
        dup_id = rows[int(r.record) - 2][0]
        assert (decl.loc[decl["declaration_id"] == dup_id, "_month"] < r.month).all()
        assert (decl["declaration_id"] == dup_id).sum() == 1


# ---- the story ------------------------------------------------------------------------------------


def test_story_release_times_lanes_and_paperless(story):
    d = story["declarations"]
    released = d[d["hours"].notna()]
    assert (
        released.loc[released["aeo"], "hours"].mean()
        < released.loc[~released["aeo"], "hours"].mean()
    )
    after = released["lodged_at"] >= GO_LIVE
    assert released.loc[after, "hours"].mean() < 0.7 * released.loc[~after, "hours"].mean()
    med = released[after].groupby("lane")["hours"].median()
    assert med["GREEN"] < 1.0 and 2.0 < med["YELLOW"] < 12.0 and med["RED"] > 24.0
    green = d["lane"] == "GREEN"
    assert green[d["aeo"]].mean() > green[~d["aeo"]].mean() + 0.1
    mix = d["lane"].value_counts(normalize=True)
    assert 0.70 < mix["GREEN"] < 0.82 and 0.12 < mix["YELLOW"] < 0.22 and 0.05 < mix["RED"] < 0.11
    assert 0 < mix["BLUE"] < 0.03
    paperless = d.groupby(d["lodged_at"] >= GO_LIVE)["is_paperless"].mean()
    assert paperless[False] < 0.55 and paperless[True] > 0.85
    im = d[(d["declaration_type"] == "IM") & d["arrival_at"].notna() & d["released_at"].notna()]
    assert 0.03 < (im["released_at"] < im["arrival_at"]).mean() < 0.5
    assert 0.003 < d["released_at"].isna().mean() < 0.05
    assert d.loc[d["declaration_type"].isin(["IM", "TR"]), "arrival_at"].notna().mean() > 0.85


def test_story_aeo_uptake_and_trade_share(story):
    d, reg = story["declarations"], story["register"]
    active_traders = d["trader_id"].nunique()
    aeos = d.loc[d["aeo"], "trader_id"].nunique()
    assert 0.05 < aeos / active_traders < 0.25
    trade = d[d["declaration_type"].isin(["IM", "EX"])]
    assert trade.loc[trade["aeo"], "customs_value"].sum() / trade["customs_value"].sum() > 0.3
    share = trade.groupby(trade["lodged_at"].dt.year).apply(
        lambda t: t.loc[t["aeo"], "customs_value"].sum() / t["customs_value"].sum()
    )
    assert share[2025] > share[2024]
    latest = reg[reg["_month"] == reg["_month"].max()].copy()
    latest["decided"] = local_month(instants(latest["decided_at"], "UTC"), "UTC")
    approved = latest[latest["decision"].str.upper() == "APPROVED"]
    months = sorted(reg["_month"].unique())
    assert set(months) <= set(approved["decided"])
    decisions = set(latest["decision"].str.upper())
    assert {"APPROVED", "REJECTED", "WITHDRAWN", "PENDING"} <= decisions
    assert story["latest_approved"]["revoked_at"].notna().sum() >= 1
    sizes = reg.groupby("_month").size()
    assert sizes.is_monotonic_increasing or sizes.iloc[-1] > sizes.iloc[0]


def test_story_drawback_tickets_edoc(sample, story):
    d = story["declarations"]
    claims = load_clean(sample, "drawback")
    for col in ("lodged_at", "decided_at"):
        claims[col] = instants(claims[col], "UTC")
    aeo_traders = set(story["latest_approved"]["trader_id"])
    claims["aeo"] = claims["trader_id"].isin(aeo_traders)
    days = (claims["decided_at"] - claims["lodged_at"]).dt.total_seconds() / 86400
    assert days[claims["aeo"]].mean() < days[~claims["aeo"]].mean()
    refs = claims["declaration_id"].dropna()
    types = d.set_index("declaration_id")["declaration_type"]
    assert (types.reindex(refs).dropna() == "EX").all() and refs.isin(types.index).mean() > 0.95

    t = load_clean(sample, "tickets")
    t["ticket_type"] = t["ticket_type"].str.upper()
    for col in ("opened_at", "due_at", "resolved_at"):
        t[col] = instants(t[col], "UTC")
    failures = (
        t[t["ticket_type"] == "FAILURE"]
        .groupby("_month")
        .size()
        .reindex(sorted(t["_month"].unique()), fill_value=0)
    )
    assert failures.max() <= 3 and failures.sum() > 0
    sr = t[t["ticket_type"] == "SERVICE_REQUEST"].copy()
    assert sr["due_at"].notna().all()
    sr["due_month"] = local_month(sr["due_at"], "UTC")
    rates = []
    for month, g in sr.groupby("due_month"):
        if month > t["_month"].max():
            continue
        end = pd.Period(month, "M").end_time.tz_localize("UTC").ceil("D")
        on_time = g["resolved_at"].notna() & (g["resolved_at"] <= g["due_at"])
        late_to = g["resolved_at"].fillna(end)
        delay = np.ceil((late_to - g["due_at"]).dt.total_seconds() / 86400).where(~on_time, 0)
        rates.append(100 * on_time.sum() / (len(g) + 0.5 * delay.sum()))
    rates = pd.Series(rates)
    assert rates.median() >= 96 and rates.max() == 100 and rates.min() < 100

    ex = d[d["declaration_type"] == "EX"]
    edoc = ex["edoc_seconds"].astype(float).groupby(ex["_month"]).mean()
    assert edoc.between(8.5, 12.5).all() and edoc.iloc[-1] < edoc.iloc[0]


# ---- speed ------------------------------------------------------------------------------------------


def test_two_hundred_thousand_declarations_are_quick(tmp_path):
    began = time.perf_counter()
    rows = generate(
        tmp_path, "2025-05", "2025-05", declarations_per_month=200_000, sample_formats=False
    )
    elapsed = time.perf_counter() - began
    assert rows["declarations"] >= 200_000 and rows["lanes"] >= 200_000
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*/*"))
    assert all(f.endswith(".csv") for f in files) and len(files) == len(FEEDS)
    header = (tmp_path / "declarations" / "2025-05" / "declarations_2025-05.csv").read_bytes()[:200]
    assert header.startswith(b"declaration_id,declaration_type,") and b"\r" not in header
    assert elapsed < 15, elapsed
