{# The feature cutoff and the label cutoff (one horizon earlier), as timestamps. #}
{% macro feature_cutoff() -%}
    cast('{{ var("cutoff") }}' as timestamp)
{%- endmacro %}

{% macro label_cutoff() -%}
    {{ dbt.dateadd("day", -1 * var("horizon_days") | int, feature_cutoff()) }}
{%- endmacro %}
