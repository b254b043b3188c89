{#-
    What differs between the engines of the dbt build (docs/scale-out.md), in one place:
    the models call these and never test target.type themselves.
-#}

{#- 100 as an 8-byte float: Spark reads the literal 100.0 as DECIMAL, and the shares computed
    with it would be decimals there (DuckDB: the same doubles either way). -#}
{% macro hundred() -%}
    cast(100 as {{ type_double() }})
{%- endmacro %}

{#- The non-null values of `measure` joined by `delimiter` in ascending order; null when there
    is none. (dbt-spark's listagg ignores its order_by_clause.) -#}
{% macro sorted_listagg(measure, delimiter) -%}
    {{ return(adapter.dispatch('sorted_listagg', 'customs_kpi')(measure, delimiter)) }}
{%- endmacro %}

{% macro default__sorted_listagg(measure, delimiter) -%}
    {{ dbt.listagg(measure, delimiter, "order by " ~ measure) }}
{%- endmacro %}

{% macro spark__sorted_listagg(measure, delimiter) -%}
    case when count({{ measure }}) > 0 then array_join(array_sort(collect_list({{ measure }})), {{ delimiter }}) end
{%- endmacro %}

{#- A Spark SQL string literal (backslashes and quotes escaped). -#}
{% macro spark_string(value) -%}
    '{{ (value | string).replace("\\", "\\\\").replace("'", "\\'") }}'
{%- endmacro %}

{#-
    on-run-start: the tables the sources name. On DuckDB they are the work database's own. On
    Spark they are the lake's Parquet folders, which the orchestrator wrote just before the build
    and lists in CUSTOMS_KPI_LAKE_TABLES (JSON: schema, name, location, columns with Spark types,
    the partition column or null); each is registered anew as an external table, and a
    partitioned one has its partitions (months) found.
-#}
{% macro register_lake() -%}
    {{ return(adapter.dispatch('register_lake', 'customs_kpi')()) }}
{%- endmacro %}

{% macro default__register_lake() -%}
{%- endmacro %}

{% macro spark__register_lake() -%}
    {%- if execute -%}
        {%- for table in fromjson(env_var('CUSTOMS_KPI_LAKE_TABLES', '[]')) -%}
            {%- set name = table.schema ~ '.' ~ table.name -%}
            {%- set columns = [] -%}
            {%- for column in table.columns -%}
                {%- do columns.append('`' ~ column.name ~ '` ' ~ column.type) -%}
            {%- endfor -%}
            {%- do run_query('create database if not exists ' ~ table.schema) -%}
            {%- do run_query('drop table if exists ' ~ name) -%}
            {%- do run_query('create table ' ~ name ~ ' (' ~ columns | join(', ') ~ ') using parquet'
                ~ (' partitioned by (`' ~ table.partition ~ '`)' if table.partition else '')
                ~ ' location ' ~ spark_string(table.location)) -%}
            {%- if table.partition -%}
                {%- do run_query('msck repair table ' ~ name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#-
    dbt-spark's seed loader binds values as '<value>' without escaping (dbt-spark issue 572): a
    quote in a value breaks the statement, and an empty cell becomes the string 'None'. Each
    value is written here as an escaped literal, an empty cell as null.
-#}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set type = column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) -%}
                    {%- set value = row[loop.index0] -%}
                    {%- if value is none -%}
                        cast(null as {{ type }})
                    {%- else -%}
                        cast({{ spark_string(value) }} as {{ type }})
                    {%- endif -%}
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor -%}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{%- endmacro %}
