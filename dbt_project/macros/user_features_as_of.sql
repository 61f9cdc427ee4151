{#
  Behavioural features of every user active in [cutoff - active_days, cutoff), computed only from
  events strictly before `cutoff` (point-in-time correct by construction).
#}
{% macro user_features_as_of(cutoff) %}
{%- set active_days = var("active_days") | int -%}
with history as (
    select * from {{ ref('stg_events') }}
    where ts < {{ cutoff }}
),

per_user as (
    select
        user_id,
        max(ts) as last_event_ts,
        max(case when event_type = 'purchase' then ts end) as last_purchase_ts,
        min(ts) as first_event_ts,
        count(case when ts >= {{ dbt.dateadd("day", -7, cutoff) }} then 1 end) as events_7d,
        count(case when ts >= {{ dbt.dateadd("day", -30, cutoff) }} then 1 end) as events_30d,
        count(case when ts >= {{ dbt.dateadd("day", -60, cutoff) }}
                    and ts < {{ dbt.dateadd("day", -30, cutoff) }} then 1 end) as events_prev_30d,
        count(case when ts >= {{ dbt.dateadd("day", -30, cutoff) }} and event_type = 'view' then 1 end)
            as views_30d,
        count(case when ts >= {{ dbt.dateadd("day", -30, cutoff) }} and event_type = 'click' then 1 end)
            as clicks_30d,
        count(case when ts >= {{ dbt.dateadd("day", -30, cutoff) }} and event_type = 'add_to_cart' then 1 end)
            as carts_30d,
        count(case when ts >= {{ dbt.dateadd("day", -30, cutoff) }} and event_type = 'purchase' then 1 end)
            as purchases_30d,
        -- Summed as decimals: a parallel sum of doubles is not bit-for-bit reproducible across runs.
        cast(sum(case when ts >= {{ dbt.dateadd("day", -30, cutoff) }} then cast(value as decimal(18, 2))
                      else 0 end) as double) as purchase_value_30d,
        count(distinct case when ts >= {{ dbt.dateadd("day", -30, cutoff) }}
                            then cast(ts as date) end) as active_days_30d,
        count(distinct case when ts >= {{ dbt.dateadd("day", -30, cutoff) }} then item_id end)
            as distinct_items_30d
    from history
    group by user_id
)

select
    p.user_id,
    cast({{ cutoff }} as date) as cutoff_date,
    {{ dbt.datediff("p.last_event_ts", cutoff, "day") }} as days_since_last_event,
    coalesce({{ dbt.datediff("p.last_purchase_ts", cutoff, "day") }}, 365) as days_since_last_purchase,
    {{ dbt.datediff("least(coalesce(u.signup_ts, p.first_event_ts), p.first_event_ts)", cutoff, "day") }} as tenure_days,
    p.events_7d,
    p.events_30d,
    p.events_prev_30d,
    p.views_30d,
    p.clicks_30d,
    p.carts_30d,
    p.purchases_30d,
    p.purchase_value_30d,
    p.active_days_30d,
    p.distinct_items_30d
from per_user as p
left join {{ ref('stg_users') }} as u on u.user_id = p.user_id
where p.last_event_ts >= {{ dbt.dateadd("day", -1 * active_days, cutoff) }}
{% endmacro %}
