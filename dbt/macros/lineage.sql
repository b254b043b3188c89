{#-
    Where a staged row came from, renamed from the raw layer's lineage columns (written by the
    loader for every accepted row): its file, its line in that file, and when it was loaded.
    The partition month (`_month`) is named by each staging model, as its feed calls it.
-#}
{% macro lineage_columns() -%}
    _file as source_file,
        _line as source_line,
        _loaded_at as loaded_at
{%- endmacro %}
