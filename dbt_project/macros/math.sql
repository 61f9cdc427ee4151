{# Numeric helpers kept in one place so the feature SQL stays portable. #}

{# c * ln(c) for a positive count, as an exact decimal: summing decimals is reproducible run to run
   (a parallel sum of doubles is not). Used for the entropy H = ln(N) - sum(c ln c) / N. #}
{% macro count_log_count(c) -%}
    cast(({{ c }}) * ln({{ c }}) as decimal(38, 9))
{%- endmacro %}

{# a / b as a double, `default` when b is 0 or null. #}
{% macro safe_ratio(a, b, default=0) -%}
    coalesce(cast({{ a }} as double) / nullif(cast({{ b }} as double), 0), {{ default }})
{%- endmacro %}

{# Sum of money amounts: summed as DECIMAL(18, 2), returned as double (reproducible, unlike a double sum). #}
{% macro money_sum(expr) -%}
    cast(sum(cast({{ expr }} as decimal(18, 2))) as double)
{%- endmacro %}
