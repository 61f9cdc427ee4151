{#
  The integer keys of user and item ids (macros/keys.sql) are persisted in the per-(user, item) tables, so
  the key of an id must not change between builds. This id's key, as recorded here, changes only if the
  warehouse's hash function did (say, a DuckDB upgrade): then rebuild the persisted tables with
  `dbt build --full-refresh` and record the new value. It runs before the models that store keys (it depends
  on stg_events), so `dbt build` stops before mixing old and new keys.
#}
-- depends_on: {{ ref('stg_events') }}
{%- set recorded = {"duckdb": "370459771865726444"} %}
select key, 'the id key function changed: rebuild with dbt build --full-refresh' as problem
from (select {{ id_key("'retention'") }} as key) as fixed
{%- if target.type in recorded %}
where cast(key as varchar) <> '{{ recorded[target.type] }}'
{%- else %}
where 1 = 0  -- no key recorded for this warehouse yet
{%- endif %}
