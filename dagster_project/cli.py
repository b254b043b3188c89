"""`customs-kpi`: the command line a data engineer reaches for."""

from __future__ import annotations

import argparse
import os
import signal
import warnings
import sys
from datetime import date
from pathlib import Path

from dagster_project.settings import PROJECT_ROOT, Settings, SettingsError, file_in_the_way


EXIT_BUSY = 3  # `run` refused: another run holds the data dir


def _month(text: str) -> date:
    from dagster_project.months import parse_month

    try:
        return parse_month(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _rows(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--rows must be a whole number >= 0, got {text!r}")
    return int(text)


def cmd_run(args: argparse.Namespace) -> int:
    from dagster_project.pipeline import run_pipeline

    settings = Settings.from_env()
    outcome = run_pipeline(
        settings,
        month_from=args.month_from,
        month_to=args.month_to,
        full_refresh=args.full_refresh,
        verbose=args.verbose,
        out=sys.stdout,
    )
    for message in outcome.failures:
        print(f"error: {message}", file=sys.stderr)
    if outcome.busy:
        return EXIT_BUSY
    return 0 if outcome.success else 1


def cmd_generate(args: argparse.Namespace) -> int:
    from dagster_project.generate import GeneratorError, synth

    settings = Settings.from_env()
    out = Path(args.out) if args.out else settings.raw_dir
    if args.sample:
        params = dict(synth.SAMPLE)
    else:
        if not (args.month_from and args.month_to):
            print("error: generate needs --from and --to (or --sample)", file=sys.stderr)
            return 2
        params = dict(
            month_from=f"{args.month_from:%Y-%m}",
            month_to=f"{args.month_to:%Y-%m}",
            declarations_per_month=args.declarations_per_month,
            seed=args.seed,
            tz=settings.tz,
        )
    try:
        blocker = file_in_the_way(out.resolve())
        if blocker is not None:
            raise GeneratorError(f"--out {out}: {blocker} is a file, not a folder")
        counts = synth.generate(out, **params)
    except GeneratorError as exc:
        print(f"error: generate: {exc}", file=sys.stderr)
        return 2
    for feed, n in counts.items():
        print(f"{feed:>14}: {n} rows")
    print(f"written under {out}")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from dagster_project.instance import ensure_dagster_home

    settings = Settings.from_env()
    ensure_dagster_home(settings)
    from dagster_project.transform.project import parse_env

    # the code location parses the dbt project itself (DbtProject.prepare_if_dev)
    os.environ.update(parse_env(settings.work_db))
    # ...with the dbt of this interpreter's environment, whatever the PATH
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    exe = Path(sys.executable).with_name("dagster")
    argv = [
        str(exe),
        "dev",
        "-h",
        args.host,
        "-p",
        str(args.port),
        "-m",
        "dagster_project.definitions",
    ]
    # a background launch may have ignored SIGINT/SIGTERM; the UI must stop on either
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(PROJECT_ROOT)
    os.execv(argv[0], argv)
    return 0  # not reached


def cmd_status(args: argparse.Namespace) -> int:
    from dagster_project.operations.status import PROBLEMS, collect_status, render_status

    settings = Settings.from_env()
    warnings: list[str] = []
    items = collect_status(settings, warnings=warnings)
    print(render_status(items, warnings))
    bad = [i for i in items if i.state in PROBLEMS or (args.strict and i.state == "overdue")]
    return 1 if bad or warnings else 0


def cmd_explain(args: argparse.Namespace) -> int:
    from dagster_project.explain.evidence import ExplainError, explain
    from dagster_project.explain.text import render, write_csv
    from dagster_project.publish.publisher import open_published

    settings = Settings.from_env()
    if not settings.published_db.is_file():
        print(
            f"error: no published warehouse at {settings.published_db} (run `customs-kpi run` first)",
            file=sys.stderr,
        )
        return 2
    with open_published(settings.published_db, settings) as con:
        try:
            e = explain(con, args.kpi_id, args.month, rows=args.rows)
        except ExplainError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(render(e), end="")
        if args.csv:
            try:
                n = write_csv(con, e, Path(args.csv))
            except OSError as exc:
                print(f"error: --csv {args.csv}: {exc.strerror}", file=sys.stderr)
                return 2
            print(f"{n} record(s) written to {args.csv}")
    if not e.matches:
        print(
            f"error: {e.kpi_id} {e.month:%Y-%m}: the evidence records do not give the published value",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from dagster_project.transform.project import ensure_manifest

    print(ensure_manifest())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="customs-kpi", description="Customs performance warehouse"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="load, check, build and publish the months in the raw folder")
    run.add_argument("--from", dest="month_from", type=_month, help="first month (YYYY-MM)")
    run.add_argument("--to", dest="month_to", type=_month, help="last month (YYYY-MM)")
    run.add_argument(
        "--full-refresh", action="store_true", help="rebuild every dbt model from scratch"
    )
    run.add_argument(
        "-v", "--verbose", action="store_true", help="show Dagster's and dbt's own logs"
    )
    run.set_defaults(func=cmd_run)

    gen = sub.add_parser("generate", help="write realistic synthetic extracts for every feed")
    gen.add_argument("--from", dest="month_from", type=_month)
    gen.add_argument("--to", dest="month_to", type=_month)
    gen.add_argument("--declarations-per-month", type=int, default=1000)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument(
        "--out", help="raw folder receiving <feed>/<YYYY-MM>/ (default: raw/ of the data dir)"
    )
    gen.add_argument("--sample", action="store_true", help="regenerate the bundled sample exactly")
    gen.set_defaults(func=cmd_generate)

    dev = sub.add_parser("dev", help="the Dagster UI")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(func=cmd_dev)

    status = sub.add_parser(
        "status", help="what is loaded, published, failing or overdue, per feed and month"
    )
    status.add_argument(
        "--strict", action="store_true", help="also exit non-zero when a month is overdue"
    )
    status.set_defaults(func=cmd_status)

    expl = sub.add_parser(
        "explain",
        help="the records behind a published KPI value, and the value recomputed from them",
    )
    expl.add_argument("kpi_id", metavar="KPI_ID", help="a kpi_id of marts.kpi_catalog")
    expl.add_argument("--month", type=_month, required=True, help="the month (YYYY-MM)")
    expl.add_argument("--rows", type=_rows, default=20, help="records to print (default 20)")
    expl.add_argument("--csv", metavar="FILE", help="write every record to FILE (CSV)")
    expl.set_defaults(func=cmd_explain)

    prep = sub.add_parser("prepare", help="parse the dbt project (manifest for Dagster)")
    prep.set_defaults(func=cmd_prepare)

    from dagster_project.quality.cli import add_parser as add_override_parser

    add_override_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", module="dagster")
    warnings.filterwarnings("ignore", module="dagster_dbt")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
