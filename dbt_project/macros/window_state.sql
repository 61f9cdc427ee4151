{#
  Sliding-window state: what lets the nightly build cost what the new day costs.

  A window sum over the days [cutoff - hi, cutoff - lo] is split at the settled boundary
  cutoff - settled_days (settled_days = var reprocess_days): the days before it are settled (no nightly
  build rewrites them, see macros/incremental.sql) and their part of the sum is kept in a state table; the
  recent days after it are read afresh at every build. Moving the cutoff one day on adds the day that
  enters the settled part and subtracts the day that leaves the window, so a night reads a few days of the
  per-day tables, not the whole window.

  Each state table records the cutoff it is for (cutoff_date, on the rows written then; the table's state is
  its latest) and settled_days. A build at the next day's cutoff advances the state; at the same cutoff it
  changes nothing; at any other cutoff (the first build, a missed night, a backfill, changed
  reprocess_days), after a load that changed a settled day (macros/loads.sql), and with --full-refresh, it
  rebuilds it from the per-day tables.
#}

{% macro settled_days() %}{{ return(var("reprocess_days") | int) }}{% endmacro %}

{# The recent days: the last settled_days() days before the cutoff, which the states do not hold yet. #}
{% macro in_recent_days(column) -%}
    {{ column }} < cast({{ feature_cutoff() }} as date)
    and {{ column }} >= {{ days_before(feature_cutoff(), settled_days()) }}
{%- endmacro %}

{# 'advance', 'same' or 'rebuild': what a build at this run's cutoff does to the state table `this`. #}
{% macro window_state_mode() %}
    {%- if not (is_incremental() and execute) -%}
        {{ return("rebuild") }}
    {%- endif -%}
    {%- set row = run_query(
        "select cast(max(cutoff_date) as varchar), min(settled_days), max(settled_days) from " ~ this
    ).rows[0] -%}
    {%- if row[1] != settled_days() or row[2] != settled_days() or changed_settled_days() -%}
        {{ return("rebuild") }}
    {%- endif -%}
    {{ return(mode_since(row[0])) }}
{% endmacro %}

{# True if a load since this table's build changed a settled day (a corrected older partition, a day
   delivered late): the state holds the old rows' part of the sums (macros/loads.sql). #}
{% macro changed_settled_days() %}
    {%- set boundary = modules.datetime.date.fromisoformat(cutoff_date())
                       - modules.datetime.timedelta(days=settled_days()) -%}
    {{ return(changed_before(boundary.isoformat())) }}
{% endmacro %}

{# 'same' at the cutoff a table was built for (`built`, 'YYYY-MM-DD'), 'advance' at the next day's, else
   (or if `built` is none) 'rebuild'. #}
{% macro mode_since(built) %}
    {%- if built is none -%}
        {{ return("rebuild") }}
    {%- endif -%}
    {%- set age = (modules.datetime.date.fromisoformat(cutoff_date())
                   - modules.datetime.date.fromisoformat(built)).days -%}
    {{ return({0: "same", 1: "advance"}.get(age, "rebuild")) }}
{% endmacro %}

{#
  The mode of int_user_window_sums: it advances by the rows its upstream states rewrote tonight, so it
  rebuilds whenever one of them rebuilt tonight (their rows then say `rebuilt`), whatever its own state.
#}
{% macro user_state_mode() %}
    {%- set mode = window_state_mode() -%}
    {%- if mode == "advance" -%}
        {%- for state in [ref("int_user_item_window"), ref("int_user_category_window")] -%}
            {%- set rebuilt = run_query(
                "select count(*) from " ~ state ~ " where rebuilt and cutoff_date = cast("
                ~ feature_cutoff() ~ " as date)"
            ).rows[0][0] -%}
            {%- if rebuilt > 0 -%}
                {{ return("rebuild") }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(mode) }}
{% endmacro %}

{# The state tables' pre-hook: a rebuild starts from an empty table. #}
{% macro window_state_reset(mode=none) -%}
    {%- if is_incremental() and (mode or window_state_mode()) == "rebuild" -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{# Age in days at the run's cutoff of the date column `column` (1 = the day before the cutoff). #}
{% macro age_at_cutoff(column) -%}
    {{ dbt.datediff(column, "cast(" ~ feature_cutoff() ~ " as date)", "day") }}
{%- endmacro %}

{# The dates at the given ages (days before the run's cutoff), as a SQL list. #}
{% macro dates_at_ages(ages) -%}
    {%- for a in ages | unique | sort -%}
        {{ days_before(feature_cutoff(), a) }}{% if not loop.last %}, {% endif %}
    {%- endfor -%}
{%- endmacro %}
