"""Great Expectations' Data Docs views, with each template compiled once per process.

GX builds a new `SiteBuilder`, and with it new Jinja environments, every time it renders a
validation: each feed's check of a run compiled the same ~50 page templates again, about
0.3 s a feed and 2 s a run, most of what the Data Docs cost. These are GX's own page and index
views, configured in the site (validate.py) through GX's `view` setting of a site section; the
only change is that every environment they create shares one Jinja bytecode cache. Jinja
stores each compiled template with a checksum of its source and compiles again when the source
differs, so the cache cannot serve a stale page.
"""

from __future__ import annotations

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class ProcessBytecodeCache(BytecodeCache):
    """Compiled templates in memory, for the life of the process (GX renders under
    validate.py's lock: one build at a time)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


TEMPLATES = ProcessBytecodeCache()


class SharedTemplates:
    """Mixed into a GX view: its Jinja environment keeps compiled templates in TEMPLATES."""

    def __init__(self, custom_styles_directory=None, custom_views_directory=None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        self.env.bytecode_cache = TEMPLATES


class CachedPageView(SharedTemplates, DefaultJinjaPageView):
    """GX's page view (a suite's or a validation's page)."""


class CachedIndexPageView(SharedTemplates, DefaultJinjaIndexPageView):
    """GX's index page view (the site's index.html)."""


def site_views() -> tuple[dict, dict]:
    """The `view` settings of a GX site: (every site section's, the index builder's)."""
    return (
        {"module_name": __name__, "class_name": CachedPageView.__name__},
        {"module_name": __name__, "class_name": CachedIndexPageView.__name__},
    )
