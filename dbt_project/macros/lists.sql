{# List columns (DuckDB): the values of `expr` ordered by `order_by`, only where `where` holds.
   Other warehouses need array_agg(... within group (order by ...)) or similar: change it here only. #}
{% macro ordered_list(expr, order_by, where=none) -%}
    {{ return(adapter.dispatch("ordered_list", "retention")(expr, order_by, where)) }}
{%- endmacro %}

{% macro default__ordered_list(expr, order_by, where=none) -%}
    array_agg({{ expr }} order by {{ order_by }}){% if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{% macro duckdb__ordered_list(expr, order_by, where=none) -%}
    coalesce(list({{ expr }} order by {{ order_by }}){% if where %} filter (where {{ where }}){% endif %}, [])
{%- endmacro %}

{#
  Per-group event times and the gaps between them, for statistics over consecutive events without a window
  over every event (a window sorts all of a user's events; a sorted list per group sorts a few).
  `sorted_seconds(ts)`: the group's timestamps in whole seconds (floored, so differences are
  datediff('second')), ascending. `list_gaps(s)`: the differences of consecutive elements (len(s) - 1 of
  them). `list_sum_where(l, x, value, condition)`: sum of `value` over the elements `x` of list `l` where
  `condition` holds (null for none); `list_count_where(l, x, condition)`: how many. The defaults are
  PostgreSQL's arrays.
#}
{% macro sorted_seconds(ts) -%}
    {{ return(adapter.dispatch("sorted_seconds", "retention")(ts)) }}
{%- endmacro %}

{% macro default__sorted_seconds(ts) -%}
    array_agg(cast(floor(extract(epoch from {{ ts }})) as bigint) order by {{ ts }})
{%- endmacro %}

{% macro duckdb__sorted_seconds(ts) -%}
    list_sort(list(epoch_us({{ ts }}) // 1000000))
{%- endmacro %}

{% macro list_gaps(s) -%}
    {{ return(adapter.dispatch("list_gaps", "retention")(s)) }}
{%- endmacro %}

{% macro default__list_gaps(s) -%}
    array(select {{ s }}[i + 1] - {{ s }}[i] from generate_series(1, cardinality({{ s }}) - 1) as i)
{%- endmacro %}

{% macro duckdb__list_gaps(s) -%}
    list_transform(range(1, len({{ s }})), lambda i: {{ s }}[i + 1] - {{ s }}[i])
{%- endmacro %}

{% macro list_sum_where(l, x, value, condition="true") -%}
    {{ return(adapter.dispatch("list_sum_where", "retention")(l, x, value, condition)) }}
{%- endmacro %}

{% macro default__list_sum_where(l, x, value, condition="true") -%}
    (select sum({{ value }}) from unnest({{ l }}) as elements({{ x }}) where {{ condition }})
{%- endmacro %}

{% macro duckdb__list_sum_where(l, x, value, condition="true") -%}
    {%- set kept = l if condition == "true" else "list_filter(" ~ l ~ ", lambda " ~ x ~ ": " ~ condition ~ ")" -%}
    list_sum({{ kept if value == x else "list_transform(" ~ kept ~ ", lambda " ~ x ~ ": " ~ value ~ ")" }})
{%- endmacro %}

{% macro list_count_where(l, x, condition) -%}
    {{ return(adapter.dispatch("list_count_where", "retention")(l, x, condition)) }}
{%- endmacro %}

{% macro default__list_count_where(l, x, condition) -%}
    (select count(*) from unnest({{ l }}) as elements({{ x }}) where {{ condition }})
{%- endmacro %}

{% macro duckdb__list_count_where(l, x, condition) -%}
    len(list_filter({{ l }}, lambda {{ x }}: {{ condition }}))
{%- endmacro %}
