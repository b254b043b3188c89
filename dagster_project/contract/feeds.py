"""One declaration per raw feed: the single source of truth for the input contract.

The loader, the row checks and their reject reasons, the raw table DDL, the
Great Expectations suites, the synthetic generator, `docs/feeds.md` and the dbt
sources (`dbt/models/staging/_sources.yml`) are all derived from these
declarations. Adding a column to a feed is one `Column(...)` line here (plus,
for the generator, a value for it). What differs between feeds is declared
here too (which other months a load reaches, which distribution metrics the
quality suite has) rather than as a branch on the feed's name in the loader or
the quality gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["text", "int", "decimal", "bool", "timestamp", "date", "code", "country"]
FeedKind = Literal["event", "snapshot", "manual"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    description: str = ""
    codes: tuple[str, ...] = ()
    # "manual_kpis": the code set is the catalog's manual KPI ids (dbt seed kpi_catalog)
    codes_from: str | None = None
    min_value: float | None = None  # decimals default to >= 0 (see `signed`)
    max_value: float | None = None
    signed: bool = False
    pattern: str | None = None  # full-match regular expression on the trimmed text
    pattern_hint: str = ""
    case: Literal["upper", "lower"] = "upper"  # how codes are stored (matched case-insensitively)
    # the stored column as the dbt source raw.<feed> documents it; empty: `description`
    source_description: str = ""

    @property
    def sql_type(self) -> str:
        return {
            "text": "VARCHAR",
            "code": "VARCHAR",
            "country": "VARCHAR",
            "int": "INTEGER",
            "decimal": "DOUBLE",
            "bool": "BOOLEAN",
            "timestamp": "TIMESTAMP",
            "date": "DATE",
        }[self.type]

    @property
    def type_label(self) -> str:
        if self.type == "code" and self.codes:
            return "code(" + "|".join(self.codes) + ")"
        if self.type == "code" and self.codes_from:
            return f"code({self.codes_from})"
        if self.type == "country":
            return "text, ISO 3166-1 alpha-2"
        if self.type == "int" and self.min_value is not None and self.max_value is not None:
            return f"int {int(self.min_value)}-{int(self.max_value)}"
        if self.type == "decimal":
            return "decimal (any sign)" if self.signed else "decimal (>= 0)"
        if self.pattern_hint:
            return f"text, {self.pattern_hint}"
        return self.type


@dataclass(frozen=True)
class RowRule:
    """A check across columns of one row.

    kind:
      - "not_before":      `column` >= `other` when both are set
      - "not_above":       `column` <= `other` when both are set
      - "required_unless": `column` is set unless `other` is one of `codes`
      - "required_when":   `column` is set when `other` is one of `codes`
    """

    kind: Literal["not_before", "not_above", "required_unless", "required_when"]
    column: str
    other: str
    codes: tuple[str, ...] = ()

    @property
    def rule_text(self) -> str:
        """The rule as documentation states it."""
        codes = "/".join(self.codes)
        return {
            "not_before": f"`{self.column}` must not be before `{self.other}`",
            "not_above": f"`{self.column}` must not be above `{self.other}`",
            "required_unless": f"`{self.column}` is required unless `{self.other}` is {codes}",
            "required_when": f"`{self.column}` is required when `{self.other}` is {codes}",
        }[self.kind]

    @property
    def reason(self) -> str:
        if self.kind == "not_before":
            return f"{self.column} before {self.other}"
        if self.kind == "not_above":
            return f"{self.column} above {self.other}"
        if self.kind == "required_unless":
            return f"{self.column} missing (required unless {self.other} is {'/'.join(self.codes)})"
        return f"{self.column} missing (required when {self.other} is {'/'.join(self.codes)})"


@dataclass(frozen=True)
class Reach:
    """Another month whose figures a row of the feed feeds, besides the row's own month.

    With `feed`: the month of the row of that feed whose key is the row's `column`
    (a lane counts for its declaration's month). Without: the local month of the
    row's timestamp `column`, where set (a service request counts for the month
    its due date falls in). `names` is what the row names, for documentation.
    """

    column: str
    names: str
    feed: str | None = None


@dataclass(frozen=True)
class Feed:
    name: str
    kind: FeedKind
    description: str
    columns: tuple[Column, ...]
    # event feeds: the timestamp whose local month must be the folder's month
    anchor: str | None = None
    # the id that must be unique; its scope follows the kind:
    # event -> across all months, snapshot -> within one snapshot, manual -> within one month
    key: str | None = None
    rules: tuple[RowRule, ...] = field(default_factory=tuple)
    # the months a load also reaches (rebuilt, and withheld with a failed month)
    reaches: tuple[Reach, ...] = ()
    # distribution and coverage metrics of the quality suite: groups of quality/metrics.py METRIC_GROUPS
    quality_metrics: tuple[str, ...] = ()
    # the raw table as the dbt source raw.<feed> documents it; empty: `description`
    source_description: str = ""
    # the dbt source's text for the lineage column _month; empty: derived from the kind
    month_description: str = ""

    def __post_init__(self) -> None:
        # the loader's duplicate check (ingest.rowchecks.duplicate_key_sql) relies on it
        if self.key is not None and self.key not in self.required_columns:
            raise ValueError(f"feed {self.name}: its key {self.key} must be a required column")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"feed {self.name} has no column {name}")

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"

    @property
    def key_scope(self) -> str | None:
        if self.key is None:
            return None
        return {"event": "all months", "snapshot": "one snapshot", "manual": "one month"}[self.kind]

    @property
    def month_text(self) -> str:
        """What the lineage column _month holds, as the dbt source documents it."""
        if self.month_description:
            return self.month_description
        return {
            "event": f"Partition month (local month of {self.anchor}).",
            "snapshot": "Snapshot month (the folder's month).",
            "manual": "The month the value is for (the folder's month).",
        }[self.kind]


C = Column  # keeps each declaration on one line

DECLARATIONS = Feed(
    name="declarations",
    kind="event",
    description="One row per customs declaration.",
    source_description="One row per customs declaration (event feed, anchor lodged_at); declaration_id is unique across all months.",
    month_description="Partition month (first day of the folder's month = local month of lodged_at).",
    anchor="lodged_at",
    key="declaration_id",
    columns=(
        C(
            "declaration_id",
            "text",
            True,
            "unique across all months",
            source_description="Declaration identifier, unique across all months.",
        ),
        C(
            "declaration_type",
            "code",
            True,
            "import, export, transit",
            codes=("IM", "EX", "TR"),
            source_description="IM import, EX export, TR transit.",
        ),
        C(
            "office_code",
            "text",
            True,
            "customs office of lodgement",
            source_description="Customs office where the declaration was lodged.",
        ),
        C(
            "transport_mode",
            "code",
            True,
            "mode of transport at the border",
            codes=("SEA", "AIR", "ROAD", "RAIL", "POST", "OTHER"),
            source_description="Mode of transport at the border (SEA, AIR, ROAD, RAIL, POST, OTHER).",
        ),
        C(
            "trader_id",
            "text",
            True,
            "economic operator identifier (TIN, EORI, ...); joins aeo_register",
            source_description="Economic operator identifier (text, may have leading zeros); joins aeo_register.",
        ),
        C(
            "category",
            "int",
            True,
            "1 postal documents, 2 low value non-dutiable, 3 low value dutiable, 4 high value",
            min_value=1,
            max_value=4,
            source_description="1 postal/documents, 2 low value non-dutiable, 3 low value dutiable, 4 high value.",
        ),
        C(
            "is_paperless",
            "bool",
            True,
            "lodged and processed with no paper documents",
            source_description="True when lodged and processed without paper documents.",
        ),
        C(
            "partner_country",
            "country",
            True,
            "origin (IM), destination (EX), next country (TR)",
            source_description="ISO 3166-1 alpha-2 code of origin (IM), destination (EX) or next country (TR).",
        ),
        C(
            "hs_code",
            "text",
            True,
            "commodity code of the first item",
            pattern=r"[0-9]{6,10}",
            pattern_hint="6-10 digits",
            source_description="Commodity code (6 to 10 digits) of the first item.",
        ),
        C(
            "customs_value",
            "decimal",
            True,
            "customs value in national currency",
            source_description="Customs value in national currency.",
        ),
        C(
            "duty_amount",
            "decimal",
            False,
            "duties and taxes assessed",
            source_description="Duties and taxes assessed, in national currency.",
        ),
        C(
            "clearance_cost",
            "decimal",
            False,
            "fees and charges paid by the trader for clearance",
            source_description="Fees and charges the trader paid for clearance, in national currency.",
        ),
        C(
            "arrival_at",
            "timestamp",
            False,
            "arrival of the goods (IM, TR) or presentation at exit (EX)",
            source_description="UTC arrival of the goods (IM, TR) or presentation at exit (EX).",
        ),
        C(
            "lodged_at",
            "timestamp",
            True,
            "lodgement of the declaration",
            source_description="UTC lodgement of the declaration; the anchor of the month partition.",
        ),
        C(
            "released_at",
            "timestamp",
            False,
            "release of the goods; null = not yet released",
            source_description="UTC release of the goods; null while not released.",
        ),
        C(
            "edoc_seconds",
            "decimal",
            False,
            "system processing time of the electronic declaration",
            source_description="System processing time of the electronic declaration, in seconds.",
        ),
    ),
    rules=(RowRule("not_before", "released_at", "lodged_at"),),
    quality_metrics=("release_time",),
)

LANES = Feed(
    name="lanes",
    kind="event",
    description="Selectivity decisions: one or more rows per declaration (re-channelling adds rows).",
    source_description="Selectivity decisions (event feed, anchor assigned_at); a re-channelled declaration has several rows.",
    anchor="assigned_at",
    key=None,
    columns=(
        C(
            "declaration_id",
            "text",
            True,
            "the declaration that was channelled",
            source_description="Declaration that was channelled; may be in an earlier month's folder or not loaded at all (orphan).",
        ),
        C(
            "lane",
            "code",
            True,
            "GREEN release, YELLOW documentary check, RED physical inspection, BLUE release then post-clearance audit",
            codes=("GREEN", "YELLOW", "RED", "BLUE"),
            source_description="GREEN release, YELLOW documentary check, RED physical inspection, BLUE release then post-clearance audit.",
        ),
        C(
            "assigned_at",
            "timestamp",
            True,
            "when this lane was assigned",
            source_description="UTC time the lane was assigned.",
        ),
        C(
            "selection",
            "code",
            False,
            "why selected: risk rule, random sample, officer; null for GREEN",
            codes=("RISK", "RANDOM", "OFFICER"),
            source_description="Why the lane was chosen (RISK rule, RANDOM sample, OFFICER discretion); null for GREEN.",
        ),
        C(
            "rule_id",
            "text",
            False,
            "selectivity rule or criterion that fired",
            source_description="Selectivity rule or criterion that fired.",
        ),
        C(
            "inspection_ended_at",
            "timestamp",
            False,
            "end of the documentary check or inspection",
            source_description="UTC end of the documentary check or physical inspection.",
        ),
        C(
            "finding",
            "code",
            False,
            "outcome of the check; null while open",
            codes=("NONE", "DISCREPANCY", "SEIZURE"),
            source_description="Outcome of the check (NONE, DISCREPANCY, SEIZURE); null while open.",
        ),
    ),
    reaches=(Reach("declaration_id", "declarations", feed="declarations"),),
    quality_metrics=("lane_shares", "declaration_coverage"),
)

DRAWBACK = Feed(
    name="drawback",
    kind="event",
    description="Drawback (duty refund) claims.",
    source_description="Drawback (duty refund) claims (event feed, anchor lodged_at).",
    anchor="lodged_at",
    key="claim_id",
    columns=(
        C(
            "claim_id",
            "text",
            True,
            "unique",
            source_description="Claim identifier, unique across all months.",
        ),
        C(
            "trader_id",
            "text",
            True,
            "claimant",
            source_description="Claimant's economic operator identifier.",
        ),
        C(
            "declaration_id",
            "text",
            False,
            "export declaration the claim refers to",
            source_description="Export declaration the claim refers to, where given.",
        ),
        C(
            "lodged_at",
            "timestamp",
            True,
            "claim lodged",
            source_description="UTC time the claim was lodged; the partition anchor.",
        ),
        C(
            "status",
            "code",
            True,
            "claim status",
            codes=("PENDING", "APPROVED", "PARTIAL", "REJECTED"),
            source_description="PENDING, APPROVED, PARTIAL or REJECTED.",
        ),
        C(
            "decided_at",
            "timestamp",
            False,
            "decision; required unless PENDING",
            source_description="UTC time of the decision; set unless PENDING.",
        ),
        C(
            "amount_claimed",
            "decimal",
            True,
            "amount claimed",
            source_description="Amount claimed, national currency.",
        ),
        C(
            "amount_approved",
            "decimal",
            False,
            "amount approved; not above amount_claimed",
            source_description="Amount approved, national currency; never above amount_claimed.",
        ),
    ),
    rules=(
        RowRule("required_unless", "decided_at", "status", ("PENDING",)),
        RowRule("not_before", "decided_at", "lodged_at"),
        RowRule("not_above", "amount_approved", "amount_claimed"),
    ),
)

TICKETS = Feed(
    name="tickets",
    kind="event",
    description="IT service desk tickets of the clearance system.",
    source_description="IT service desk tickets of the clearance system (event feed, anchor opened_at).",
    anchor="opened_at",
    key="ticket_id",
    columns=(
        C(
            "ticket_id",
            "text",
            True,
            "unique",
            source_description="Ticket identifier, unique across all months.",
        ),
        C(
            "ticket_type",
            "code",
            True,
            "FAILURE = a system failure case",
            codes=("SERVICE_REQUEST", "INCIDENT", "FAILURE"),
            source_description="SERVICE_REQUEST, INCIDENT or FAILURE (a system failure case).",
        ),
        C(
            "system",
            "text",
            False,
            "affected system or module",
            source_description="Affected system or module.",
        ),
        C(
            "opened_at",
            "timestamp",
            True,
            "ticket opened",
            source_description="UTC time the ticket was opened; the partition anchor.",
        ),
        C(
            "due_at",
            "timestamp",
            False,
            "scheduled completion; required for SERVICE_REQUEST",
            source_description="UTC scheduled completion; always set for SERVICE_REQUEST.",
        ),
        C(
            "resolved_at",
            "timestamp",
            False,
            "null = open; not before opened_at",
            source_description="UTC resolution; null while open.",
        ),
    ),
    rules=(
        RowRule("required_when", "due_at", "ticket_type", ("SERVICE_REQUEST",)),
        RowRule("not_before", "resolved_at", "opened_at"),
    ),
    reaches=(Reach("due_at", "due dates"),),
)

AEO_REGISTER = Feed(
    name="aeo_register",
    kind="snapshot",
    description="AEO applications and certificates: each month's folder holds the whole register as of that month's end.",
    source_description="AEO applications and certificates (snapshot feed): every month folder holds the whole register as of that month's end, so the table holds one copy of each application per snapshot.",
    anchor=None,
    key="application_id",
    columns=(
        C(
            "application_id",
            "text",
            True,
            "unique within one snapshot",
            source_description="Application identifier, unique within one snapshot.",
        ),
        C(
            "trader_id",
            "text",
            True,
            "applicant",
            source_description="Applicant's economic operator identifier.",
        ),
        C(
            "submitted_at",
            "timestamp",
            True,
            "application received",
            source_description="UTC time the application was received.",
        ),
        C(
            "decision",
            "code",
            True,
            "state of the application",
            codes=("PENDING", "APPROVED", "REJECTED", "WITHDRAWN"),
            source_description="PENDING, APPROVED, REJECTED or WITHDRAWN.",
        ),
        C(
            "decided_at",
            "timestamp",
            False,
            "required unless PENDING",
            source_description="UTC time of the decision; set unless PENDING.",
        ),
        C(
            "valid_from",
            "date",
            False,
            "certificate valid from; required if APPROVED",
            source_description="First day the certificate is valid; set when APPROVED.",
        ),
        C(
            "valid_to",
            "date",
            False,
            "certificate valid until (exclusive); null = open-ended",
            source_description="First day the certificate is no longer valid (exclusive end); null = open-ended.",
        ),
        C(
            "revoked_at",
            "date",
            False,
            "certificate suspended or revoked from this date",
            source_description="Day from which the certificate is suspended or revoked.",
        ),
    ),
    rules=(
        RowRule("required_unless", "decided_at", "decision", ("PENDING",)),
        RowRule("required_when", "valid_from", "decision", ("APPROVED",)),
    ),
)

MANUAL = Feed(
    name="manual",
    kind="manual",
    description="Indicators that no system records, delivered by people; the month is the folder's month.",
    source_description="Indicators delivered by people, one value per KPI and month (anchor = the folder's month).",
    anchor=None,
    key="kpi_id",
    columns=(
        C(
            "kpi_id",
            "code",
            True,
            "a KPI of the catalog whose source is manual",
            codes_from="manual_kpis",
            case="lower",
            source_description="Catalog KPI whose source is manual.",
        ),
        C(
            "value",
            "decimal",
            True,
            "the month's value",
            signed=True,
            source_description="The month's value (any sign).",
        ),
        C(
            "note",
            "text",
            False,
            "free text",
            source_description="Free-text remark of the person who delivered it.",
        ),
    ),
)

FEEDS: tuple[Feed, ...] = (DECLARATIONS, LANES, DRAWBACK, TICKETS, AEO_REGISTER, MANUAL)


def feed_by_name(name: str) -> Feed:
    for f in FEEDS:
        if f.name == name:
            return f
    raise KeyError(f"unknown feed {name!r}; feeds are {', '.join(f.name for f in FEEDS)}")
