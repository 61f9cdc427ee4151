-- Churn labels at the label cutoff (one horizon before the feature cutoff, so the window is complete):
-- a user active before the label cutoff churned if they had no event in [label_cutoff, cutoff).
with population as (
    select distinct user_id
    from {{ ref('stg_events') }}
    where ts < {{ label_cutoff() }}
      and ts >= {{ dbt.dateadd("day", -1 * var("active_days") | int, label_cutoff()) }}
),

returned as (
    select distinct user_id
    from {{ ref('stg_events') }}
    where ts >= {{ label_cutoff() }}
      and ts < {{ feature_cutoff() }}
)

select
    p.user_id,
    cast({{ label_cutoff() }} as date) as cutoff_date,
    {{ var("horizon_days") }} as horizon_days,
    case when r.user_id is null then 1 else 0 end as churned
from population as p
left join returned as r on r.user_id = p.user_id
