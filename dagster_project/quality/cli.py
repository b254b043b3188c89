"""`customs-kpi override`: an operator accepts a feed-month that failed its quality suite."""

from __future__ import annotations

import argparse
import sys

from dagster_project.contract import FEEDS


def cmd_override(args: argparse.Namespace) -> int:
    from dagster_project.contract import feed_by_name
    from dagster_project.months import parse_month
    from dagster_project.quality.ledger import OverrideError, record_override
    from dagster_project.settings import Settings

    settings = Settings.from_env()
    feed = feed_by_name(args.feed)
    try:
        month = parse_month(args.month)
        before, note = record_override(settings, feed, month, args.by, args.reason)
    except (OverrideError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{feed.name} {month:%Y-%m}: {before} -> overridden")
    print(f"  {note}")
    print(
        "The override holds while the month keeps this delivery; a re-delivery with other files voids it."
    )
    print(f"Publish it with: customs-kpi run --from {month:%Y-%m} --to {month:%Y-%m}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `override` on the `customs-kpi` sub-command parser."""
    p = subparsers.add_parser(
        "override",
        help="accept a feed-month that failed its quality suite (recorded with who and why)",
        description="Record an operator's decision to accept a loaded feed-month despite a failed "
        "quality suite. The decision is appended to raw.quality_overrides and shown in load_audit; "
        "the next run lets the month through to dbt and publishing.",
    )
    p.add_argument("--feed", required=True, choices=[f.name for f in FEEDS])
    p.add_argument("--month", required=True, help="the reporting month, YYYY-MM")
    p.add_argument("--by", required=True, help="who takes the decision")
    p.add_argument("--reason", required=True, help="why the batch is accepted")
    p.set_defaults(func=cmd_override)
    return p
