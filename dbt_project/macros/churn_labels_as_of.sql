{#
  Churn labels at `label_cutoff` (a timestamp expression at a midnight): the users active in
  [label_cutoff - active_days, label_cutoff) (the user_features population at that cutoff); churned = 1 if
  they had no event in [label_cutoff, label_cutoff + horizon_days). Reads the per-day activity table.
  The caller makes sure label_cutoff + horizon_days <= the run's cutoff (the window is complete).
#}
{% macro churn_labels_as_of(label_cutoff) %}
{%- set active_days = var("active_days") | int -%}
{%- set horizon_days = var("horizon_days") | int -%}
select
    user_id,
    cast({{ label_cutoff }} as date) as cutoff_date,
    {{ horizon_days }} as horizon_days,
    case
        when max(case when activity_date >= cast({{ label_cutoff }} as date) then 1 else 0 end) = 1 then 0
        else 1
    end as churned
from {{ ref('int_user_daily_activity') }}
where activity_date >= {{ days_before(label_cutoff, active_days) }}
  and activity_date < {{ days_before(label_cutoff, -1 * horizon_days) }}
group by user_id
having max(case when activity_date < cast({{ label_cutoff }} as date) then 1 else 0 end) = 1
{% endmacro %}

{# Features at `cutoff` joined with the labels that follow it. #}
{% macro training_snapshot_as_of(cutoff) %}
with features as (
    {{ user_features_as_of(cutoff) }}
),

labels as (
    {{ churn_labels_as_of(cutoff) }}
)

select f.*, l.churned
from features as f
inner join labels as l on l.user_id = f.user_id
{% endmacro %}
