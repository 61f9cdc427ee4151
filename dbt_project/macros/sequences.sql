{#
  The nightly user_sequences: a user's last N events before the cutoff can only have changed since the
  build at the previous day's cutoff if the user has events in the last reprocess_days days before the
  cutoff (the new day, and the days a late event loaded since can be of: macros/incremental.sql). A build
  at the next day's cutoff ('advance') or at the same one ('same') recomputes those users only, drops the
  users who left the population, and moves every other row's cutoff_date on; at any other cutoff (the first
  build, a missed night, a backfill), with other parameters (sequence_length, active_days: the table's
  comment records those it was built with), after a load that changed an older day (macros/loads.sql) and
  with --full-refresh it recomputes every user ('rebuild').
#}

{% macro sequences_parameters() -%}
    sequence_length={{ var("sequence_length", 50) | int }} active_days={{ var("active_days") | int }}
{%- endmacro %}

{% macro sequences_mode() %}
    {%- if not (is_incremental() and execute) -%}
        {{ return("rebuild") }}
    {%- endif -%}
    {%- set built = run_query("select cast(max(cutoff_date) as varchar) from " ~ this).rows[0][0] -%}
    {%- set record = build_record() -%}  {#- macros/loads.sql #}
    {%- for pair in sequences_parameters().split() if record.get(pair.split("=")[0]) != pair.split("=")[1] -%}
        {{ return("rebuild") }}
    {%- endfor -%}
    {%- if changed_settled_days() -%}  {#- macros/window_state.sql #}
        {{ return("rebuild") }}
    {%- endif -%}
    {{ return(mode_since(built)) }}  {#- macros/window_state.sql #}
{% endmacro %}

{# The users whose sequences a nightly build recomputes (those with events in the reprocessed days). #}
{% macro sequences_recent_users() -%}
    select distinct user_id
    from {{ ref('int_user_daily_activity') }}
    where {{ in_recent_days("activity_date") }}  {#- macros/window_state.sql #}
{%- endmacro %}

{# The pre-hook: keep the rows the build does not recompute (none on a rebuild), at the new cutoff. #}
{% macro sequences_reset() -%}
    {%- if is_incremental() -%}
        {%- if sequences_mode() == "rebuild" -%}
            delete from {{ this }}
        {%- else -%}
            delete from {{ this }}
            where last_ts < cast({{ days_before(feature_cutoff(), var("active_days") | int) }} as timestamp)
               or user_id in ({{ sequences_recent_users() }});
            update {{ this }} set cutoff_date = cast({{ feature_cutoff() }} as date)
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{# The post-hook: record the parameters of the rows (sequences_mode rebuilds when they change) and the
   loads seen (macros/loads.sql). #}
{% macro sequences_record() -%}
    {{ record_build(sequences_parameters()) }}
{%- endmacro %}
