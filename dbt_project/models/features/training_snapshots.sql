{#
  Features + churn labels stacked for several past cutoffs (snapshot_dates in macros/cutoffs.sql: weekly on
  a fixed calendar, the newest at or before the label cutoff, so every label window is complete before the
  run's cutoff). cutoff_date identifies the snapshot.

  Incremental: a snapshot never changes once built, so a build computes only the dates not in the table
  yet and drops the dates no longer wanted; the nightly cost is at most one snapshot a week.
#}
{#- The hook is rendered when it runs, so it sees the run's cutoff (cutoff_date() is read at execution). -#}
{{ config(
    materialized="incremental",
    incremental_strategy="delete+insert",
    unique_key="cutoff_date",
    pre_hook=["{% if is_incremental() %}delete from {{ this }} where cast(cutoff_date as varchar) not in "
              "('{{ snapshot_dates() | join(\"', '\") }}'){% endif %}"],
) }}
{%- set wanted = snapshot_dates() -%}
{%- set built = [] -%}
{%- if is_incremental() and execute -%}
    {%- set rows = run_query("select distinct cast(cutoff_date as varchar) from " ~ this) -%}
    {%- for row in rows -%}{%- do built.append(row[0]) -%}{%- endfor -%}
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
