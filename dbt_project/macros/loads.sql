{#
  What the raw loads changed since an incremental table was last built: the earliest day to rebuild.

  Ingest logs every loaded partition in raw.load_log with its loaded_at and affected_from, the earliest
  UTC day of an event the load wrote or replaced (a new day; the day of a late event; any day of a
  corrected older partition, old or new rows). Each incremental model records in its table's comment the
  newest loaded_at it has seen (`record_build`, its post-hook, inside the model's transaction, so the record
  and the rows commit together); `changed_since_build()` is then the earliest affected_from of the loads
  after it. A table without a record (built before this existed) has seen nothing: everything changed.

  Reading a table's comment is DuckDB's (duckdb_tables()); `comment on table` itself is standard SQL.
#}

{# The key=value pairs of this table's comment (its build record), as a dict; {} without one. #}
{% macro build_record() %}
    {%- set record = {} -%}
    {%- if execute -%}
        {%- set rows = run_query(
            "select comment from duckdb_tables() where database_name = '" ~ this.database
            ~ "' and schema_name = '" ~ this.schema ~ "' and table_name = '" ~ this.identifier ~ "'"
        ).rows -%}
        {%- for pair in ((rows[0][0] if rows else none) or "").split() if "=" in pair -%}
            {%- do record.update({pair.split("=")[0]: pair.split("=", 1)[1]}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(record) }}
{% endmacro %}

{# The newest loaded_at in raw.load_log (ISO text), none if nothing was loaded. #}
{% macro loads_seen() %}
    {%- set log = source("raw", "load_log") -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set seen = run_query("select cast(max(loaded_at) as varchar) from " ~ log) -%}
    {{ return(seen.rows[0][0] | replace(" ", "T") if seen.rows[0][0] is not none else none) }}
{% endmacro %}

{# The earliest day ('YYYY-MM-DD') that a load after this table's record changed, none if no load did. #}
{% macro changed_since_build() %}
    {%- set log = source("raw", "load_log") -%}  {#- outside `execute`: the parse records the dependency -#}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set built = build_record().get("loads_seen") -%}
    {%- if built is none -%}
        {{ return("0001-01-01") }}
    {%- endif -%}
    {#- A load logged without affected_from (by an older ingest) may have changed any day. -#}
    {%- set changed = run_query(
        "select cast(min(coalesce(affected_from, date '0001-01-01')) as varchar) from "
        ~ log ~ " where loaded_at > cast('" ~ built ~ "' as timestamp)"
    ) -%}
    {{ return(changed.rows[0][0]) }}
{% endmacro %}

{# True if a load since this table's build changed a day before `date` ('YYYY-MM-DD'). #}
{% macro changed_before(date) %}
    {%- set changed = changed_since_build() -%}
    {{ return(changed is not none and changed < date) }}
{% endmacro %}

{# The post-hook of every incremental model: record the loads seen (after `extra` key=value pairs). #}
{% macro record_build(extra="") -%}
    {%- set seen = loads_seen() -%}
    comment on table {{ this }} is '{{ (extra ~ " loads_seen=" ~ seen if seen else extra) | trim }}'
{%- endmacro %}
