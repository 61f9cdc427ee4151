{#
  Integer keys of the user and item ids: the per-(user, item) and per-(user, category) tables are keyed by
  them, not by the id strings. Those tables have millions of rows, and DuckDB groups, joins and above all
  writes 64-bit integers far faster than strings (measured in the README's feature layer section). The
  user-level tables keep user_id and carry user_key, so no table needs a key -> id lookup.

  A key is a 64-bit hash of the id: two ids of N share one with probability about N^2 / 2^65 (1e-10 for
  10^5 users), checked by the unique tests on stg_users.user_key and stg_items.item_key. The hash is the
  warehouse's own; a version of it that changed its hash would change every key, which the test
  `id_key_is_stable` catches (a fixed id's key): the persisted tables then need `dbt build --full-refresh`.
  The default is PostgreSQL's (untested here, like Spark's).
#}
{% macro id_key(column) -%}
    {{ return(adapter.dispatch("id_key", "retention")(column)) }}
{%- endmacro %}

{% macro default__id_key(column) -%}
    hashtextextended({{ column }}, 0)
{%- endmacro %}

{% macro duckdb__id_key(column) -%}
    hash({{ column }})
{%- endmacro %}

{% macro spark__id_key(column) -%}
    xxhash64({{ column }})
{%- endmacro %}
