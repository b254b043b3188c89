"""A corpus of bad deliveries, built by code (no binary fixtures), with the outcome each must get.

Every fault kind of the feed contract and the real-world faults exporters
produce has an entry. An entry either carries its own expected outcome
(asserted by tests/test_corpus.py through the loader, or through the whole
Dagster pipeline when checks and publishing are involved) or names the test
that already asserts it (`covered_by`), so nothing is asserted twice.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project.contract import feed_by_name
from tests.feed_rows import MONTH, csv_text, numbered

TICKETS = feed_by_name("tickets")
DRAWBACK = feed_by_name("drawback")


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # file | row | batch | accepted
    feed: str
    # writes the delivery into the month folder (MONTH, 2024-03) it is given
    build: Callable[[Path], None] | None = None
    # file faults: (file, message prefix); row faults: [(file, line, column, reason prefix)]
    file_fault: tuple[str, str] | None = None
    rejects: list[tuple[str, int, str | None, str]] = field(default_factory=list)
    counts: tuple[int, int, int] | None = None  # rows read, accepted, rejected
    # batch faults: the expectations that fail (asserted in the pipeline test)
    failed_expectations: tuple[str, ...] = ()
    covered_by: str | None = None


def _tickets(n: int) -> list[dict[str, str]]:
    return [numbered(TICKETS, i) for i in range(n)]


def _ticket_text(rows: list[dict[str, str]], delimiter: str = ",", newline: str = "\n") -> str:
    cols = TICKETS.column_names
    return csv_text(cols, [[r[c] for c in cols] for r in rows], delimiter, newline)


def _write(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def windows_1251_body(folder: Path) -> None:
    rows = _tickets(3)
    rows[1]["system"] = "Таможня: модуль экспорта"
    _write(folder, "tickets_1251.csv", _ticket_text(rows).encode("cp1251"))


def windows_1251_header(folder: Path) -> None:
    text = _ticket_text(_tickets(2)).replace("resolved_at\n", "resolved_at,Примечание\n", 1)
    _write(folder, "tickets_1251.csv", text.encode("cp1251"))


def euc_kr(folder: Path) -> None:
    rows = _tickets(2)
    rows[0]["system"] = "세관 시스템"
    _write(folder, "tickets_kr.csv", _ticket_text(rows).encode("euc-kr"))


def utf16_without_bom(folder: Path) -> None:
    _write(folder, "tickets_utf16.csv", _ticket_text(_tickets(2)).encode("utf-16-le"))


def excel_sep_line(folder: Path) -> None:
    _write(
        folder,
        "tickets_excel.csv",
        ("sep=;\n" + _ticket_text(_tickets(2), ";", "\r\n")).encode("utf-8"),
    )


def truncated_last_line(folder: Path) -> None:
    text = _ticket_text(_tickets(4))
    _write(
        folder, "tickets_cut.csv", text[: text.rindex("UNI-PASS") + 5].encode("utf-8")
    )  # no newline


def truncated_inside_quotes(folder: Path) -> None:
    rows = _tickets(3)
    rows[2]["system"] = "module, export"
    text = _ticket_text(rows)
    _write(folder, "tickets_cut.csv", text[: text.index("module, ex") + 10].encode("utf-8"))


DECIMAL_COMMA_CLAIMS = 6


def semicolons_decimal_commas(folder: Path) -> None:
    rows = []
    for i in range(DECIMAL_COMMA_CLAIMS):
        row = numbered(DRAWBACK, i, amount_claimed=f"{1200 + i},50", amount_approved="")
        rows.append(row)
    cols = DRAWBACK.column_names
    data = codecs.BOM_UTF8 + csv_text(
        cols, [[r[c] for c in cols] for r in rows], ";", "\r\n"
    ).encode("utf-8")
    _write(folder, "drawback_excel.csv", data)


LOADER = "tests/test_loader.py"
DELIVERIES = "tests/test_deliveries.py"

CASES: list[Case] = [
    # ---- file level: the feed-month fails, nothing changes ------------------------------------------
    Case(
        "windows-1251 text in a row",
        "file",
        "tickets",
        windows_1251_body,
        file_fault=("tickets_1251.csv", "not UTF-8: invalid byte sequence at line 3"),
    ),
    Case(
        "windows-1251 text in the header",
        "file",
        "tickets",
        windows_1251_header,
        file_fault=("tickets_1251.csv", "not UTF-8: invalid byte 0xcf in the header row"),
    ),
    Case(
        "EUC-KR text",
        "file",
        "tickets",
        euc_kr,
        file_fault=("tickets_kr.csv", "not UTF-8: invalid byte sequence at line 2"),
    ),
    Case(
        "UTF-16 without byte-order mark",
        "file",
        "tickets",
        utf16_without_bom,
        file_fault=("tickets_utf16.csv", "not UTF-8 text: the file contains NUL bytes"),
    ),
    Case(
        "Excel 'sep=;' first line",
        "file",
        "tickets",
        excel_sep_line,
        file_fault=(
            "tickets_excel.csv",
            "missing required columns: ticket_id, ticket_type, opened_at",
        ),
    ),
    Case(
        "last line cut inside a quoted field",
        "file",
        "tickets",
        truncated_inside_quotes,
        file_fault=("tickets_cut.csv", "a quote opened at line 4 is never closed"),
    ),
    Case(
        "UTF-16 with byte-order mark",
        "file",
        "tickets",
        covered_by=f"{LOADER}::test_file_fault_fails_the_month_and_changes_nothing[utf16]",
    ),
    Case(
        "Latin-1 text",
        "file",
        "tickets",
        covered_by=f"{LOADER}::test_file_fault_fails_the_month_and_changes_nothing[latin1]",
    ),
    Case(
        "missing required column",
        "file",
        "tickets",
        covered_by=f"{LOADER}::test_file_fault_fails_the_month_and_changes_nothing[missing-required-column]",
    ),
    Case(
        "zero bytes",
        "file",
        "tickets",
        covered_by=f"{LOADER}::test_file_fault_fails_the_month_and_changes_nothing[zero-bytes]",
    ),
    Case(
        "empty header",
        "file",
        "tickets",
        covered_by=f"{LOADER}::test_file_fault_fails_the_month_and_changes_nothing[blank-header]",
    ),
    Case(
        "unterminated quote",
        "file",
        "tickets",
        covered_by=f"{LOADER}::test_file_fault_fails_the_month_and_changes_nothing[open-quote]",
    ),
    Case(
        "truncated .gz",
        "file",
        "tickets",
        covered_by=f"{LOADER}::test_file_fault_fails_the_month_and_changes_nothing[truncated-gz]",
    ),
    Case(
        "not CSV or Parquet",
        "file",
        "tickets",
        covered_by=f"{LOADER}::test_file_fault_fails_the_month_and_changes_nothing[other-file]",
    ),
    Case(
        "broken Parquet",
        "file",
        "tickets",
        covered_by=f"{LOADER}::test_file_fault_fails_the_month_and_changes_nothing[not-parquet]",
    ),
    Case(
        "a sub-folder in the month folder",
        "file",
        "tickets",
        covered_by=f"{LOADER}::test_file_fault_fails_the_month_and_changes_nothing[sub-folder]",
    ),
    Case(
        "a file fault in the pipeline",
        "file",
        "tickets",
        covered_by="tests/test_pipeline.py::test_file_fault_fails_the_run_and_leaves_the_published_file_byte_identical",
    ),
    Case(
        "a file changed while being read",
        "file",
        "tickets",
        covered_by=f"{DELIVERIES}::test_a_file_that_changes_while_read_fails_the_month_and_changes_nothing",
    ),
    Case(
        "a file missing from its completion marker's folder",
        "file",
        "tickets",
        covered_by=f"{DELIVERIES}::test_marker_mismatch_is_a_file_fault_naming_the_file[listed-file-missing]",
    ),
    Case(
        "a file whose sha256 differs from its completion marker",
        "file",
        "tickets",
        covered_by=f"{DELIVERIES}::test_marker_mismatch_is_a_file_fault_naming_the_file[other-sha256]",
    ),
    Case(
        "a .gz that expands past its limits (gzip bomb)",
        "file",
        "tickets",
        covered_by=f"{DELIVERIES}::test_gzip_expanding_past_its_limits_is_a_file_fault_naming_the_file[ratio]",
    ),
    # ---- row level: rejected with reason, read = accepted + rejected ------------------------------
    Case(
        "truncated last line",
        "row",
        "tickets",
        truncated_last_line,
        rejects=[("tickets_cut.csv", 5, None, "fewer fields than the header (3 of 6)")],
        counts=(4, 3, 1),
    ),
    Case(
        "a 50 MiB last line with no line break",
        "row",
        "manual",
        covered_by=f"{DELIVERIES}::test_an_over_long_last_line_is_rejected_not_lost[no-trailing-newline]",
    ),
    Case(
        "over-long lines between rows",
        "row",
        "tickets",
        covered_by=f"{DELIVERIES}::test_over_long_lines_between_rows_keep_every_line_number",
    ),
    Case(
        "semicolons with decimal commas",
        "row",
        "drawback",
        semicolons_decimal_commas,
        rejects=[
            ("drawback_excel.csv", line, "amount_claimed", "not a decimal number")
            for line in range(2, 2 + DECIMAL_COMMA_CLAIMS)
        ],
        counts=(DECIMAL_COMMA_CLAIMS, 0, DECIMAL_COMMA_CLAIMS),
    ),
    Case(
        "missing required value",
        "row",
        "*",
        covered_by=f"{LOADER}::test_row_fault_goes_to_rejects_with_reason[*-missing]",
    ),
    Case(
        "unparsable value",
        "row",
        "*",
        covered_by=f"{LOADER}::test_row_fault_goes_to_rejects_with_reason[*-unparsable]",
    ),
    Case(
        "unknown code",
        "row",
        "*",
        covered_by=f"{LOADER}::test_row_fault_goes_to_rejects_with_reason[*-unknown-code]",
    ),
    Case(
        "unassigned country code",
        "row",
        "declarations",
        covered_by=f"{LOADER}::test_row_fault_goes_to_rejects_with_reason[declarations:partner_country-unassigned]",
    ),
    Case(
        "fewer or more fields than the header",
        "row",
        "tickets",
        covered_by=f"{LOADER}::test_fewer_and_more_fields_than_header",
    ),
    Case(
        "duplicate ids within and across files of a month",
        "row",
        "declarations",
        covered_by=f"{LOADER}::test_duplicate_ids_within_file_and_across_files",
    ),
    Case(
        "duplicate id of an earlier month",
        "row",
        "declarations",
        covered_by=f"{LOADER}::test_duplicate_of_an_earlier_month_is_rejected",
    ),
    Case(
        "anchor outside the month",
        "row",
        "*",
        covered_by=f"{LOADER}::test_row_fault_goes_to_rejects_with_reason[*:anchor-outside-month]",
    ),
    Case(
        "release before lodgement",
        "row",
        "declarations",
        covered_by=f"{LOADER}::test_row_fault_goes_to_rejects_with_reason[declarations:rule-not_before-released_at]",
    ),
    Case(
        "approved amount above claimed",
        "row",
        "drawback",
        covered_by=f"{LOADER}::test_row_fault_goes_to_rejects_with_reason[drawback:rule-not_above-amount_approved]",
    ),
    # ---- accepted as they are ---------------------------------------------------------------------
    Case(
        "UTF-8 byte-order mark, semicolons, CRLF",
        "accepted",
        "lanes",
        covered_by=f"{LOADER}::test_semicolon_bom_crlf_and_header_case",
    ),
    Case(
        "extra columns",
        "accepted",
        "tickets",
        covered_by=f"{LOADER}::test_gzip_and_parquet_and_extra_columns",
    ),
    Case(
        "file names that are glob patterns ([1], *, ?, {a,b}, quotes, Unicode)",
        "accepted",
        "tickets",
        covered_by=f"{DELIVERIES}::test_every_file_is_read_literally_whatever_its_name",
    ),
    Case(
        "copies in progress (.part, .tmp, ~) beside the files",
        "accepted",
        "tickets",
        covered_by=f"{DELIVERIES}::test_in_progress_copies_are_never_read[b.csv.part]",
    ),
    Case(
        "an emptied month folder: no delivery, the loaded month kept",
        "accepted",
        "drawback",
        covered_by=f"{DELIVERIES}::test_emptied_month_folder_leaves_the_published_month_as_it_was",
    ),
    # ---- batch level: loaded, recorded, held back (tests/test_corpus.py::test_batch_faults_*) -------
    Case(
        "a month re-delivered with fewer rows",
        "batch",
        "declarations",
        failed_expectations=("row_count_ratio",),
    ),
    Case(
        "rejected share above the feed's limit (decimal commas)",
        "batch",
        "drawback",
        failed_expectations=("row_count", "reject_share"),
    ),  # ~10 claims a month: below the band's floor
    Case("header only", "batch", "manual", failed_expectations=("row_count",)),
    Case(
        "a small feed a few rows short of its median (manual: 2 of 5)",
        "batch",
        "manual",
        covered_by="tests/test_quality_gate.py::test_a_small_manual_month_names_its_missing_kpis_in_a_warning_not_a_failure",
    ),
    Case(
        "lane rows whose declarations are missing",
        "batch",
        "lanes",
        failed_expectations=("declaration_coverage",),
    ),
    Case(
        "an optional column the exporter dropped",
        "batch",
        "declarations",
        covered_by="tests/test_quality_gate.py::test_an_optional_column_the_exporter_dropped_shows_as_null_share",
    ),
    Case(
        "distribution far from plausible",
        "batch",
        "declarations",
        covered_by="tests/test_quality_gate.py::test_release_distribution",
    ),
]

# What the contract and the field say bad input looks like: each must have an entry above.
REQUIRED = (
    "windows-1251",
    "euc-kr",
    "utf-16",
    "byte-order mark",
    "semicolons with decimal commas",
    "missing required column",
    "extra columns",
    "header only",
    "zero bytes",
    "truncated last line",
    "unterminated quote",
    "duplicate ids within and across files",
    "anchor outside the month",
    "release before lodgement",
    "approved amount above claimed",
    "unknown code",
    "re-delivered with fewer rows",
    "not csv or parquet",
    "empty header",
    "truncated .gz",
    "unassigned country",
    "unparsable value",
    "missing required value",
    "fewer or more fields",
    "rejected share above",
    "gzip bomb",
    "glob patterns",
    "last line with no line break",
)

__all__ = ["CASES", "REQUIRED", "Case", "MONTH"]
