{#
  Data tests on the big day-incremental tables check only the recent days, so that a nightly `dbt build`
  costs what the new day costs: a test whose `where` config mentions `__recent_days__` sees the rows from
  `test_window_days` (default 7, at least `reprocess_days`) days before the cutoff on; older days were
  tested on the nights they were built. `dbt build --full-refresh` tests every day.

  This is dbt's documented hook for templating `where` (yml configs cannot call macros):
  https://docs.getdbt.com/reference/resource-configs/where#custom-logic
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get("where") -%}
    {%- if where -%}
        {%- if "__recent_days__" in where -%}
            {%- set since = "cast('1900-01-01' as date)" if flags.FULL_REFRESH else
                "cast(" ~ dbt.dateadd("day", -1 * (var("test_window_days", 7) | int), feature_cutoff()) ~ " as date)" -%}
            {%- set where = where | replace("__recent_days__", since) -%}
        {%- endif -%}
        {%- do return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}
