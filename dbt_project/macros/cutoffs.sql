{#
  The cutoff date (YYYY-MM-DD): the env var DBT_CUTOFF, which the pipeline sets, else the var `cutoff`.
  Read only when dbt executes (`execute`): dbt re-parses every file whose parse read a changed env var
  (and the whole project for changed --vars), so a cutoff read at parse time would cost each nightly
  run a re-parse. Nothing that parsing records (refs, configs, hooks) depends on the cutoff.
#}
{% macro cutoff_date() -%}
    {%- if execute -%}
        {{ return(env_var("DBT_CUTOFF", var("cutoff") | string)) }}
    {%- else -%}
        {{ return(var("cutoff") | string) }}
    {%- endif -%}
{%- endmacro %}

{# The feature cutoff and the label cutoff (one horizon earlier), as timestamps.
   `cutoff` must be a date ('YYYY-MM-DD'): the feature windows are whole days ending at the cutoff's midnight,
   which is what lets the features read per-day aggregates instead of events. #}
{% macro feature_cutoff() -%}
    cast('{{ cutoff_date() }}' as timestamp)
{%- endmacro %}

{% macro label_cutoff() -%}
    {{ dbt.dateadd("day", -1 * var("horizon_days") | int, feature_cutoff()) }}
{%- endmacro %}

{# The date `days` days before the timestamp expression `ts_expr` (days may be negative: after). #}
{% macro days_before(ts_expr, days) -%}
    cast({{ dbt.dateadd("day", -1 * days | int, ts_expr) }} as date)
{%- endmacro %}

{#
  Training snapshot dates (ISO strings, newest first): `snapshot_count` dates `snapshot_every_days` apart on
  a fixed calendar (days since Monday 2000-01-03 divisible by the step), the newest at or before the label
  cutoff. A fixed calendar means a snapshot, once its label window is complete, never changes: the
  incremental training_snapshots model builds each date once.
#}
{% macro snapshot_dates() -%}
    {%- set dt = modules.datetime -%}
    {%- set every = var("snapshot_every_days", 7) | int -%}
    {%- set cutoff = dt.date.fromisoformat(cutoff_date()) -%}
    {%- set label = cutoff - dt.timedelta(days=var("horizon_days") | int) -%}
    {%- set newest = label - dt.timedelta(days=(label - dt.date(2000, 1, 3)).days % every) -%}
    {%- set out = [] -%}
    {%- for k in range(var("snapshot_count", 6) | int) -%}
        {%- do out.append((newest - dt.timedelta(days=every * k)).isoformat()) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}
