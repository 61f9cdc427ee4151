{#
  Day-incremental models (one row per ... per day, `date_col` = the UTC date of the events' ts).

  A full build covers every day strictly before the cutoff. An incremental build rebuilds the days from
  `incremental_start(date_col)` up to the cutoff: the earliest day that a load since the table's last build
  changed (macros/loads.sql: tonight's new day, the days of its late events, every day of a corrected older
  partition), and every day after the last day already built (days never built). So a night with no late
  event rebuilds the new day only, and a corrected partition of any age is picked up.

  `incremental_reset(date_col)` is the models' pre-hook: it deletes every row from that start on, including
  days at or after the cutoff left by a build at a later cutoff, so after any build the table holds exactly
  the days before the cutoff, as a full refresh would. The models then only append their rows
  (incremental_strategy "append"): a key-matching delete+insert would scan the whole table again for rows
  the pre-hook already removed. A night that deletes nothing (no late event) also spares DuckDB's
  checkpoint the rewrite of the row group that rows deleted from a table's tail leave (0.3 s of
  int_user_daily_activity at 10 M events when every night rebuilt four days). A full build writes its rows
  unsorted: sorting them by day cost about 1 s of a 17 s full build at 10 M events, and the next night's
  build was no faster for it (6.1-6.4 s sorted, 6.0-6.8 s unsorted); nightly appends come in day order.
#}
{% macro incremental_start(date_col) -%}
    {%- set start = cutoff_date() -%}
    {%- if execute -%}
        {%- set last = run_query("select cast(max(" ~ date_col ~ ") as varchar) from " ~ this).rows[0][0] -%}
        {%- set never_built = "0001-01-01" if last is none else
            (modules.datetime.date.fromisoformat(last) + modules.datetime.timedelta(days=1)).isoformat() -%}
        {%- set start = [start, never_built, changed_since_build() or start] | min -%}
    {%- endif -%}
    cast('{{ start }}' as date)
{%- endmacro %}

{% macro incremental_reset(date_col) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ date_col }} >= {{ incremental_start(date_col) }}
    {%- endif -%}
{%- endmacro %}

{# The events a day-incremental model reads: before the cutoff and, on incremental runs, from the start. #}
{# `date_col`: the model's own date column (in {{ this }}). #}
{% macro incremental_ts_filter(ts_col, date_col) -%}
    {{ ts_col }} < {{ feature_cutoff() }}
    {%- if is_incremental() %}
    and {{ ts_col }} >= cast({{ incremental_start(date_col) }} as timestamp)
    {%- endif -%}
{%- endmacro %}

{# Same for a model built from another day-incremental model: filter on the date column. #}
{% macro incremental_date_filter(date_col, this_date_col="activity_date") -%}
    {{ date_col }} < cast({{ feature_cutoff() }} as date)
    {%- if is_incremental() %}
    and {{ date_col }} >= {{ incremental_start(this_date_col) }}
    {%- endif -%}
{%- endmacro %}
