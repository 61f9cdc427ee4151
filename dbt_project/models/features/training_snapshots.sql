{#
  Features + churn labels stacked for several past cutoffs (snapshot_dates in macros/cutoffs.sql: weekly on
  a fixed calendar, the newest at or before the label cutoff, so every label window is complete before the
  run's cutoff). cutoff_date identifies the snapshot.

  Incremental: a build computes the dates not in the table yet, drops the dates no longer wanted, and
  recomputes the snapshots that a load since the last build changed (macros/loads.sql: a changed day d
  reaches the snapshots at c > d - horizon_days, through their features or their labels; a late event can
  reach the newest). The nightly cost is at most one snapshot a week, and another after a late event.
#}
{#- The hook is rendered when it runs, so it sees the run's cutoff (cutoff_date() is read at execution). -#}
{{ config(
    materialized="incremental",
    incremental_strategy="delete+insert",
    unique_key="cutoff_date",
    pre_hook=["{% if is_incremental() %}delete from {{ this }} where cast(cutoff_date as varchar) not in "
              "('{{ snapshot_dates() | join(\"', '\") }}'){% endif %}"],
    post_hook=["{{ record_build() }}"],
) }}
{%- set wanted = snapshot_dates() -%}
{%- set built = [] -%}
{%- if is_incremental() and execute -%}
    {%- set rows = run_query("select distinct cast(cutoff_date as varchar) from " ~ this) -%}
    {%- for row in rows -%}{%- do built.append(row[0]) -%}{%- endfor -%}
{%- endif -%}
{%- set changed = changed_since_build() if is_incremental() else none -%}
{%- if changed == "0001-01-01" -%}  {#- no record of the loads seen: recompute every snapshot -#}
    {%- set built = [] -%}
{%- elif changed is not none -%}
    {%- set reached = (modules.datetime.date.fromisoformat(changed)
                       - modules.datetime.timedelta(days=var("horizon_days") | int)).isoformat() -%}
    {%- set built = built | reject(">", reached) | list -%}
{%- endif -%}
{%- set todo = wanted | reject("in", built) | list -%}

{% if todo %}
{% for c in todo %}
{% if not loop.first %}union all{% endif %}
select * from (
    {{ training_snapshot_as_of("cast('" ~ c ~ "' as timestamp)") }}
) as snapshot_{{ loop.index }}
{% endfor %}
{% else %}
select * from {{ this }} where 1 = 0
{% endif %}
