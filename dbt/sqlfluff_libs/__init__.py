"""What the models' Jinja needs of dbt when sqlfluff renders them (make lint), without dbt.

sqlfluff's jinja templater (config in /.sqlfluff) puts every public name of this package in the
template context (`library_path`); `apply_dbt_builtins` adds ref, source, config, var, this,
is_incremental (true) and return, and `load_macros_from_path` the project's macros. What is
left is here, rendered as dbt-duckdb renders it, so that the SQL sqlfluff parses is the DuckDB
SQL of the build:

- `adapter.dispatch(name, namespace)`: the project's `duckdb__<name>` macro, else
  `default__<name>` (dbt's own search order for the duckdb adapter, without the packages);
- `dbt.<macro>`: the few dbt-core cross-database macros the project calls, as on DuckDB;
- `target`, `env_var` (the default, never the environment: the lint does not depend on the
  shell), `modules`, `exceptions`.

`execute` is false (the templater context in /.sqlfluff): the macros that read the warehouse
(build_window, the quality gate's withheld months) take their parse-time branch, so no
database is needed. A new dbt builtin or `dbt.<macro>` in a model needs a line here: until it
has one, the model's lint fails with a templating violation (TMP) that names it.
"""

import datetime as _datetime
import re as _re
from types import SimpleNamespace as _Namespace

from jinja2 import TemplateError as _TemplateError
from jinja2 import pass_context as _pass_context


@_pass_context
def _dispatch(context, macro_name, macro_namespace=None):
    for prefix in ("duckdb__", "default__"):
        macro = context.get(prefix + macro_name)
        if macro is not None:
            return macro
    # a TemplateError: sqlfluff reports it as the file's TMP violation instead of stopping
    raise _TemplateError(f"adapter.dispatch: no duckdb__{macro_name} or default__{macro_name}")


adapter = _Namespace(dispatch=_dispatch)

target = _Namespace(type="duckdb", name="dev", database="warehouse", schema="main", threads=1)


def env_var(name, default=None):
    return name if default is None else default


modules = _Namespace(re=_re, datetime=_datetime)


def _raise_compiler_error(message):
    raise _TemplateError(message)


exceptions = _Namespace(raise_compiler_error=_raise_compiler_error)


def _listagg(measure, delimiter_text="','", order_by_clause=None, limit_num=None):
    order = f" {order_by_clause}" if order_by_clause else ""
    return f"string_agg({measure}, {delimiter_text}{order})"


dbt = _Namespace(
    type_string=lambda: "text",
    type_bigint=lambda: "bigint",
    type_timestamp=lambda: "timestamp",
    type_float=lambda: "float",
    date_trunc=lambda datepart, date: f"date_trunc('{datepart}', {date})",
    dateadd=lambda datepart, interval, from_date_or_timestamp: (
        f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {datepart})"
    ),
    concat=lambda fields: " || ".join(fields),
    listagg=_listagg,
)
