"""Concise progress lines for `customs-kpi run`: steps, per-month loads, failed checks."""

import logging
import sys

from dagster import logger

# dbt's own per-node lines stay in the Dagster UI; the terminal gets the window and the summary
QUIET_STEP_PREFIXES = ("customs_dbt_models",)
DBT_SUMMARY = ("rebuilding months", "Finished dbt command", "Done. PASS")
STEP_EVENTS = {"STEP_START": "started", "STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED"}


class ProgressHandler(logging.Handler):
    def __init__(self, stream):
        super().__init__(logging.INFO)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        line = None
        if event is not None:
            kind = event.event_type_value
            if kind in STEP_EVENTS:
                line = f"  {step}: {STEP_EVENTS[kind]}"
            elif kind == "ASSET_CHECK_EVALUATION":
                data = event.event_specific_data
                evaluation = getattr(data, "evaluation", data)
                if not evaluation.passed:
                    line = f"  check {evaluation.asset_key.to_user_string()}:{evaluation.check_name}: failed"
        elif record.levelno >= logging.INFO and step:
            message = str(meta.get("orig_message", record.getMessage()))
            if (
                record.levelno >= logging.WARNING
                or not step.startswith(QUIET_STEP_PREFIXES)
                or message.startswith(DBT_SUMMARY)
            ):
                line = (
                    f"  {step}: {message.strip().splitlines()[0] if message.strip() else message}"
                )
        if line:
            self.stream.write(line + "\n")
            self.stream.flush()


@logger(description="One line per step start/end, per month loaded, and per failed check.")
def progress_logger(init_context):
    log = logging.getLogger("customs_kpi.progress")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.handlers = [ProgressHandler(sys.stdout)]
    return log
