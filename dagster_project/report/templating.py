"""The report's page templates (templates/*.html.j2): Jinja2, every value HTML-escaped unless marked safe.

Shared by the month pages, the index and the explanation pages: the page frame
(page.html.j2, with the CSS and the Content-Security-Policy), the status badge
and the chart figure (macros.html.j2), and the filters the templates format with.
"""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from dagster_project.months import month_key, month_label

# status -> (label, css class)
STATUS = {
    "met": ("met", "good"),
    "goal": ("goal", "good"),
    "basic": ("basic", "fair"),
    "minimum": ("minimum", "warn"),
    "not_met": ("not met", "bad"),
    "below_minimum": ("below minimum", "bad"),
    None: ("–", "none"),
}


def status_label(status: str | None) -> tuple[str, str]:
    """(label, css class) of a KPI status; an unknown status shows as itself."""
    return STATUS.get(status, (status or "–", "none"))


def minute(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M}"


TEMPLATES = Environment(
    loader=PackageLoader("dagster_project.report", "templates"),
    autoescape=select_autoescape(["html.j2"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
TEMPLATES.filters.update(month_label=month_label, month_key=month_key, minute=minute)
TEMPLATES.globals.update(status_label=status_label)


def render_page(template: str, **context) -> str:
    """One page from templates/<template>."""
    return TEMPLATES.get_template(template).render(**context)
