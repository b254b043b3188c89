"""(c) The pandas script an analyst would write for the same TRS mart.

Reads the month's declarations, lanes and AEO register CSVs (only the columns
it needs), works out each declaration's final lane and AEO status on the
lodgement date, and writes `trs_monthly` as Parquet. Rows whose timestamps do
not parse become NaT (`errors="coerce"`); lines with the wrong field count are
skipped.

    python bench/pandas_trs.py RAW_DIR YYYY-MM OUT.parquet
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

KEYS = ["month", "declaration_type", "transport_mode", "is_aeo", "final_lane"]
INTERVALS = ["hours_lodged_to_release", "hours_arrival_to_lodged", "hours_arrival_to_release"]
TS_FORMAT = "%Y-%m-%d %H:%M:%S"


def read(folder: Path, usecols: list[str]) -> pd.DataFrame:
    frames = [
        pd.read_csv(path, usecols=usecols, dtype=str, on_bad_lines="skip")
        for path in sorted(folder.glob("*.csv"))
    ]
    return pd.concat(frames, ignore_index=True)


def timestamps(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, format=TS_FORMAT, errors="coerce")


def trs_monthly(raw: Path, month: str) -> pd.DataFrame:
    decl = read(
        raw / "declarations" / month,
        [
            "declaration_id",
            "declaration_type",
            "transport_mode",
            "trader_id",
            "arrival_at",
            "lodged_at",
            "released_at",
        ],
    )
    for column in ("arrival_at", "lodged_at", "released_at"):
        decl[column] = timestamps(decl[column])
    decl = decl[decl["lodged_at"].notna()]

    lanes = read(raw / "lanes" / month, ["declaration_id", "lane", "assigned_at"])
    lanes["assigned_at"] = timestamps(lanes["assigned_at"])
    final = (
        lanes.dropna(subset=["assigned_at"])
        .sort_values("assigned_at", kind="stable")
        .drop_duplicates("declaration_id", keep="last")
        .rename(columns={"lane": "final_lane"})[["declaration_id", "final_lane"]]
    )

    register = read(
        raw / "aeo_register" / month,
        ["trader_id", "decision", "valid_from", "valid_to", "revoked_at"],
    )
    register = register[register["decision"] == "APPROVED"]
    valid_from = pd.to_datetime(register["valid_from"], format="%Y-%m-%d", errors="coerce")
    valid_until = pd.concat(
        [
            pd.to_datetime(register["valid_to"], format="%Y-%m-%d", errors="coerce"),
            timestamps(register["revoked_at"]),
        ],
        axis=1,
    ).min(axis=1)
    certificates = pd.DataFrame(
        {"trader_id": register["trader_id"], "valid_from": valid_from, "valid_until": valid_until}
    )

    lodged = decl[["declaration_id", "trader_id"]].assign(day=decl["lodged_at"].dt.normalize())
    pairs = lodged.merge(certificates, on="trader_id")
    valid = (pairs["valid_from"] <= pairs["day"]) & (
        pairs["valid_until"].isna() | (pairs["day"] < pairs["valid_until"])
    )
    decl["is_aeo"] = decl["declaration_id"].isin(pairs.loc[valid, "declaration_id"])

    decl = decl.merge(final, on="declaration_id", how="left")
    decl["month"] = decl["lodged_at"].dt.to_period("M").dt.to_timestamp()
    decl["hours_lodged_to_release"] = (
        decl["released_at"] - decl["lodged_at"]
    ).dt.total_seconds() / 3600
    decl["hours_arrival_to_lodged"] = (
        decl["lodged_at"] - decl["arrival_at"]
    ).dt.total_seconds() / 3600
    decl["hours_arrival_to_release"] = (
        decl["released_at"] - decl["arrival_at"]
    ).dt.total_seconds() / 3600
    decl["within_24h"] = decl["hours_lodged_to_release"] <= 24

    groups = decl.groupby(KEYS, dropna=False)
    out = groups.agg(
        declarations=("declaration_id", "size"),
        released_declarations=("released_at", "count"),
        within_24h=("within_24h", "sum"),
    )
    for column in INTERVALS:
        out[f"mean_{column}"] = groups[column].mean()
        out[f"median_{column}"] = groups[column].median()
        out[f"p90_{column}"] = groups[column].quantile(0.9)
    out["released_within_24h_share"] = 100.0 * out.pop("within_24h") / out["declarations"]
    return out.reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("month", help="YYYY-MM")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    mart = trs_monthly(args.raw, args.month)
    mart.to_parquet(args.out, index=False)
    print(f"trs_monthly: {len(mart)} cells, {int(mart['declarations'].sum())} declarations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
