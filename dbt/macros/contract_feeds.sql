{#
  The feeds of the contract (dagster_project/contract/feeds.py): the tables of source raw that
  _sources.yml, generated from the contract, marks with meta.feed_kind. For the tests of a `feed`
  column, so that no list of feed names is kept by hand:
      - accepted_values:
          arguments:
            values: "{{ contract_feeds() }}"
  (test arguments are rendered when the test compiles, when the graph is known).
#}
{% macro contract_feeds() %}
    {%- set names = [] -%}
    {%- for node in graph.sources.values() if node.source_name == 'raw' and node.meta.get('feed_kind') -%}
        {%- do names.append(node.name) -%}
    {%- endfor -%}
    {{ return(names | sort) }}
{% endmacro %}
