"""One-line alerts for failed runs: a log file, and a webhook when one is set."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from dagster_project.quality.checks import WITHHELD_CHECK_NAME
from dagster_project.settings import Settings

ALERT_LOG = Path("logs") / "alerts.log"

_QUALIFIED_CLASS = re.compile(r"^[\w.]+(?:Error|Exception|Exit|Interrupt|Warning|Failure)?: ")
_ERRNO = re.compile(r"^\[Errno \d+\] ")
_PATH = re.compile(r"""["'](/[^"']+)["']""")
NO_SPACE = "No space left on device"


def _first_line(error) -> str:
    text = (error.message or "").strip()
    line = text.splitlines()[0] if text else error.cls_name
    return _ERRNO.sub("", _QUALIFIED_CLASS.sub("", line, count=1)).strip()


def root_cause(error) -> str:
    """The innermost error of a failure's chain (causes, and the errors being handled when a
    later one was raised), in one line, naming the file or folder where one of the chain does."""
    chain = []
    while error is not None and len(chain) < 50:
        chain.append(error)
        error = error.cause or error.context
    inner = _first_line(chain[-1])
    path = next(
        (m.group(1) for e in reversed(chain) for m in [_PATH.search(e.message or "")] if m), None
    )
    if NO_SPACE in inner:
        return f"{NO_SPACE} while writing {path}" if path else NO_SPACE
    if path and path not in inner:
        return f"{inner} ({path})"
    return inner


def failure_messages(events) -> list[str]:
    """Readable reasons from a run's step-failure events (one per failed feed-month)."""
    messages: list[str] = []
    events = list(events)
    # a failed blocking check (the quality gate) explains itself in its evaluation's description
    check_reasons: dict[str, list[str]] = {}
    evaluated: set[str] = set()
    for event in events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluated.add(event.step_key or "")
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.description:
                lines = [x.strip() for x in evaluation.description.splitlines() if x.strip()]
                check_reasons.setdefault(event.step_key, []).extend(lines)
    # a run stopped before the publish (a file fault) still names the feed-months its gate withholds
    if not any(step.endswith(f"_{WITHHELD_CHECK_NAME}") for step in evaluated):
        messages.extend(
            line
            for lines in check_reasons.values()
            for line in lines
            if line.startswith("withheld: ")
        )
    for event in events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        user = data.user_failure_data
        if user is not None and user.description:
            messages.extend(part.strip() for part in user.description.split("; ") if part.strip())
        elif data.error is not None and data.error.cls_name == "DagsterAssetCheckFailedError":
            failed = [x.strip() for x in data.error.message.strip().splitlines()[1:] if x.strip()]
            messages.extend(
                check_reasons.get(event.step_key) or [f"blocking check failed: {', '.join(failed)}"]
            )
        elif data.error is not None:
            messages.append(f"{event.step_key}: {root_cause(data.error)}")
    return messages


def alert_lines(run_id: str, months: str, messages: list[str]) -> list[str]:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    reasons = messages or ["run failed (no step reported a reason; see the Dagster UI)"]
    return [
        f"{stamp} FAILED run={run_id[:8]} months={months} {' '.join(r.split())}" for r in reasons
    ]


def send_alert(settings: Settings, lines: list[str]) -> Path:
    """Append the lines to <data dir>/logs/alerts.log and post them to the webhook if set."""
    path = settings.data_dir / ALERT_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(line + "\n" for line in lines)
    if settings.alert_webhook:
        for line in lines:
            request = urllib.request.Request(
                settings.alert_webhook,
                data=json.dumps({"text": line}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except OSError as exc:
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(f"webhook {settings.alert_webhook} failed: {exc}\n")
    return path
