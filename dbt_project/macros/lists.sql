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
