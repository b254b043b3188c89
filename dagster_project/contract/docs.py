"""Render docs/feeds.md from the feed contract, so the documentation cannot drift from the code.

Regenerate with `python -m dagster_project.contract.docs > docs/feeds.md`; a test
fails when the committed file differs from what the contract renders.
"""

from __future__ import annotations

from dagster_project.contract import FEEDS, Feed
from dagster_project.ingest.delivery import IN_PROGRESS_SUFFIXES, MANIFEST_MARKER, SUCCESS_MARKER
from dagster_project.ingest.files import ReadLimits
from dagster_project.ingest.rowchecks import FALSE_WORDS, TRUE_WORDS
from dagster_project.settings import DEFAULT_GZIP_MAX_RATIO, DEFAULT_GZIP_MAX_SIZE

INTRO = """\
# The raw feeds: what exporters deliver

<!-- Generated from dagster_project/contract/feeds.py by
     `python -m dagster_project.contract.docs`. Do not edit by hand. -->

This is the input contract of the warehouse, written for the teams who build
exporters from the clearance system, the selectivity engine, the drawback
module, the service desk and the AEO register. The loader enforces exactly
what is written here; the page is generated from the same declarations the
loader runs on.

## Where files go

    data/raw/<feed>/<YYYY-MM>/<file>.csv        (or .csv.gz, or .parquet)

* The month folder is the reporting month and the unit of loading. Its data
  files (`.csv`, `.csv.gz`, `.parquet`) are one delivery; they are read in
  name order.
* A file is read by its exact name, whatever characters it holds: `[1]`,
  `*`, `?`, `{{a,b}}`, quotes, spaces and any Unicode are part of the name,
  never a pattern that selects other files.
* Delivering a month again replaces what that month held for the feed: the
  loader deletes the month and inserts the new delivery, so loading the same
  files twice never duplicates anything.
* A month with no folder, or a folder with no data file in it, is "no
  delivery": nothing of the month is replaced (an emptied folder never wipes a
  loaded month; `customs-kpi status` shows it as "empty folder"), and counts
  that need that feed show as missing (null), not as zero.
* Copies in progress are never read and are not a fault: names starting with
  {in_progress}.
  Anything else in a month folder that is not a data file (or a completion
  marker, below) fails that feed-month with a message naming it.
* Month folders are named `YYYY-MM` exactly. A folder named otherwise
  (`2025-1`, `2025-13`, `2025-02-extra`), a folder under `raw/` that is not one
  of the feeds below, and a month before `CUSTOMS_KPI_FIRST_MONTH` (default
  2020-01) are not read: `customs-kpi run` prints a `warning:` line naming each,
  and `customs-kpi status` lists them and exits 1.

## Delivering a month safely

Write each file under an in-progress name and rename it when it is complete
(a rename within one file system is atomic):

    data/raw/drawback/2025-02/drawback_2025-02.csv.part   <- being written, ignored
    data/raw/drawback/2025-02/drawback_2025-02.csv        <- renamed when complete

**Completion marker (recommended).** When the month folder holds `{manifest}`
or `{success}`, only the files the marker lists are the delivery. Each listed
file must be present with the listed SHA-256, otherwise the feed-month fails
with a message naming the file; data files the marker does not list are
ignored (status names them). Write the marker last.

`{manifest}` (a `sha256` may be left out: the file then only has to be present):

    {{"files": [{{"name": "drawback_2025-02.csv", "sha256": "9f86d081884c7d65...(64 hex digits)"}}]}}

`{success}`, either empty (every data file present is the delivery), or in
`sha256sum` output format, one listed file a line:

    $ cd data/raw/drawback/2025-02
    $ sha256sum *.csv > .SUCCESS.tmp && mv .SUCCESS.tmp _SUCCESS
    $ cat _SUCCESS
    9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  drawback_2025-02.csv

When both are present, `{manifest}` is the one read. The markers are not data
files and never a fault by their presence.

**Stability.** Whatever the folder holds, a file whose size, modification time
or content differs between the moment the loader lists the folder and the end
of its read fails the feed-month ("changed while being read: still being
written?"); nothing of that month is replaced, and the next run reads it again.

**When a run starts.** The Dagster sensor `raw_delivery_sensor` starts a run
for a month whose content (file names and SHA-256) is new or changed only once
the month's folders have stayed the same for `CUSTOMS_KPI_SETTLE_SECONDS`
(default 300) since the sensor first saw them; any change restarts the wait,
including a copy in progress that grows or is renamed. `customs-kpi run`
(an operator's explicit command, and `make run` on a fresh clone where every
file is new) does not wait: the stability check and the markers protect it.

## How files are read

* CSV: a header row, UTF-8 (a byte-order mark is fine), `,` or `;` as the
  delimiter (taken from the header row), `"` for quoting (quoted fields may
  hold delimiters and line breaks), CRLF or LF line ends, one kind throughout
  a file. A file mixing them, or with a bare CR (as classic Mac files end their
  lines), is a file-level fault whose message names the first line of each kind
  (lines as an editor counts them); a quoted line break inside a value may be
  either. An empty field is null.
  Header names match the columns below ignoring case and surrounding spaces;
  extra columns are ignored and noted once per file in `load_audit.notes`.
* `.csv.gz`: the same, gzip-compressed (several gzip members in one file
  are read one after the other). A `.gz` may expand to at most
  `CUSTOMS_KPI_GZIP_MAX_RATIO` times its own size (default {gzip_ratio}; sizes up to
  {gzip_floor} MiB always pass this ratio) and never past `CUSTOMS_KPI_GZIP_MAX_SIZE`
  (default {gzip_size}); past either, the file is refused before anything reads it.
  Parquet: the same column names; values are read as text and checked
  exactly like CSV values. A contract column holding nested values (a struct,
  list, map or union) is a file-level fault: it has no one value to check.
* A line may be at most {max_line} bytes long. A longer one is a rejected row
  ("line too long (N bytes; at most {max_line})", its first 1,000 bytes kept as
  its text), whether or not it ends with a line break: it is counted, never
  dropped. A header row longer than that is a file-level fault; a wide header
  shorter than that is read whole, however many columns it names.
* Timestamps: ISO 8601 date and time (`T` or a space between them; seconds
  and fractions optional). With a UTC offset (`+05:00`, `Z`) the instant is
  converted to UTC; without one it is local time in `CUSTOMS_KPI_TZ`. All
  timestamps are stored in UTC. Dates are `YYYY-MM-DD`.
* Booleans: {booleans} (any case).
* Decimals use `.` and no thousands separator; unless a column says
  "any sign", a negative value is a fault.
* Codes are matched ignoring case and stored upper case (KPI ids: lower case).
* Country codes must be assigned ISO 3166-1 alpha-2 codes.

## What happens to bad input

**A file that cannot be read as a whole** (not UTF-8, UTF-16, zero bytes or
no header, a header row past the line limit, a required column missing from
the header, a column named twice, a quote that is never closed, line ends
other than LF or CRLF or a mix of the two, a broken `.gz` or Parquet file, a
Parquet column of nested values, a `.gz` that expands past its limits, an
unexpected entry in the folder) fails the load of that feed-month with one
message naming the feed, the month, the file and the fault. Nothing of that
month changes, and nothing is published.

**A row that breaks the contract** is not loaded: it goes to `raw.rejects`
(published as `marts.load_rejects`) with the feed, month, file, line (the
header is line 1; a record spanning several lines counts as one), the column,
the reason, and the row's text. Only the first fault of a row is reported, in
this order: each column's own checks in column order (missing required value,
unparsable value, code or country outside its set, pattern, range, negative),
then the row rules of the feed, then the anchor month, then duplicate ids. A
line with fewer or more fields than the header is rejected as such.

For every file, `load_audit` records rows read, accepted and rejected, and
read = accepted + rejected always holds.

**Duplicate ids**: the first occurrence stands: an earlier month before a
later one, then files in name order, then lines in order. Rows rejected for
another fault do not count as an occurrence. If an earlier month is loaded
after a later one that holds the same id, the later copy is moved to the
rejects (and its month's counts adjusted).

**A batch that fails its quality suite** (a row count far from the months
before, a share of rejected rows above the feed's limit, a distribution out of
bounds: [quality.md](quality.md)) is loaded into the raw layer with its result
in `load_audit`, and *withheld*: the KPI values of its month that read the feed
are published as null with the reason in `kpi_monthly.quality`, everything else
is published, and the run exits non-zero naming it, until the month is
re-delivered and passes or an operator overrides it.

**Anchor month**: for event feeds the anchor timestamp, in local time, must
fall in the folder's month; otherwise the row is rejected
("anchor outside partition month"), never moved to another month.

## The feeds

Type words: `text`, `int`, `decimal`, `bool`, `timestamp`, `date`,
`code(A|B)` (one of the codes). **req** marks a required column.
"""


def _feed_section(feed: Feed) -> str:
    kind = {
        "event": f"event feed; anchor `{feed.anchor}`",
        "snapshot": "snapshot feed: each month's folder holds the whole register as at that month's end; no anchor check",
        "manual": "manual feed; the month is the folder's month",
    }[feed.kind]
    lines = [f"### {feed.name}", "", f"{feed.description} ({kind}).", ""]
    if feed.key:
        lines.append(f"Key: `{feed.key}`, unique within {feed.key_scope}.")
        lines.append("")
    lines += ["| column | type | req | meaning |", "|---|---|---|---|"]
    for c in feed.columns:
        lines.append(
            f"| {c.name} | {c.type_label.replace('|', chr(92) + '|')} | {'req' if c.required else ''} | {c.description} |"
        )
    if feed.rules:
        lines += ["", "Row rules:", ""]
        lines += [f"* {r.rule_text}" for r in feed.rules]
    return "\n".join(lines) + "\n"


def render() -> str:
    booleans = ", ".join(f"`{t}`/`{f}`" for t, f in zip(TRUE_WORDS, FALSE_WORDS))
    in_progress = (
        "`.` or ending in "
        + ", ".join(f"`{x}`" for x in IN_PROGRESS_SUFFIXES[:-1])
        + f" or `{IN_PROGRESS_SUFFIXES[-1]}`"
    )
    intro = INTRO.replace("{booleans}", booleans).replace("{in_progress}", in_progress)
    intro = intro.replace("{manifest}", MANIFEST_MARKER).replace("{success}", SUCCESS_MARKER)
    limits = ReadLimits()
    intro = intro.replace("{max_line}", f"{limits.max_line_bytes:,}").replace(
        "{gzip_ratio}", str(DEFAULT_GZIP_MAX_RATIO)
    )
    intro = intro.replace("{gzip_floor}", str(limits.gzip_ratio_floor // 2**20)).replace(
        "{gzip_size}", DEFAULT_GZIP_MAX_SIZE
    )
    intro = intro.replace("{{", "{").replace("}}", "}")
    parts = [intro]
    parts += [_feed_section(f) for f in FEEDS]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
