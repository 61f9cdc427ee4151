{#
  Behavioural features of every user active in [cutoff - active_days, cutoff), computed only from days
  strictly before `cutoff` (point-in-time correct by construction). `cutoff` is a SQL timestamp expression
  at a midnight (UTC), so "the last w days" = the activity dates d with cutoff_date - w <= d < cutoff_date.
  Reads the per-day intermediate tables, never events, at any cutoff (the training snapshots). The nightly
  `user_features` computes the same columns from the sliding-window state (models/features/user_features.sql);
  both end in `user_features_select`.
#}
{% macro user_features_as_of(cutoff) %}
{%- set cutoff_date = "cast(" ~ cutoff ~ " as date)" -%}
with daily as (
    select
        *,
        {{ dbt.datediff("activity_date", cutoff_date, "day") }} as age,  -- 1 = the day before the cutoff
        {{ dbt.datediff("prev_activity_date", cutoff_date, "day") }} as prev_age
    from {{ ref('int_user_daily_activity') }}
    where activity_date < {{ cutoff_date }}
),

per_user as (
    select
        user_id,
        user_key,
        max(last_ts) as last_event_ts,
        max(last_purchase_ts) as last_purchase_ts,
        min(first_ts) as first_event_ts,
        {%- for s in user_window_sums() %}
        {{ window_sum(s) }} as {{ s.name }},
        {%- endfor %}
        -- Gaps between consecutive active days, both within the last 90 days.
        {{ between_gap_sums("age <= " ~ between_gap_days() ~ " and prev_age <= " ~ between_gap_days()) }}
    from daily
    group by user_id, user_key
),

-- One row per (user, item) with events in the last 30 days: its last cart and last purchase in the window
-- (a purchase following a cart in the window is in the window too).
user_items as (
    select
        d.user_key,
        d.item_key,
        max(d.last_cart_ts) as last_cart_ts_30d,
        max(d.last_purchase_ts) as last_purchase_ts_30d
    from {{ ref('int_user_item_daily') }} as d
    where d.activity_date < {{ cutoff_date }}
      and d.activity_date >= {{ days_before(cutoff, 30) }}
    group by d.user_key, d.item_key
),

categories as (
    select user_key, category, sum(events) as events
    from {{ ref('int_user_category_daily') }}
    where activity_date < {{ cutoff_date }}
      and activity_date >= {{ days_before(cutoff, 90) }}
    group by user_key, category
),

-- Items new to the user in the last 30 days: the pairs first seen in the window (all of them are in it).
novel_items as (
    select user_key, count(*) as novel_items_30d
    from {{ ref('int_user_item_first_seen') }}
    where first_date < {{ cutoff_date }}
      and first_date >= {{ days_before(cutoff, novelty_days()) }}
    group by user_key
),

item_stats as (
    {{ item_stats_of("user_items") }}
),

category_stats as (
    {{ category_stats_of("categories") }}
),

{{ user_features_select(cutoff) }}
{% endmacro %}


{# The timestamp `ts` if it is at or after the window's start `start`, else null. #}
{% macro in_window(ts, start) -%}
    case when {{ ts }} >= {{ start }} then {{ ts }} end
{%- endmacro %}


{# Whether an item was abandoned in the window: carted (last cart `cart`) and not purchased at or after it. #}
{% macro abandoned(cart, purchase) -%}
    ({{ cart }} is not null and ({{ purchase }} is null or {{ purchase }} < {{ cart }}))
{%- endmacro %}


{# Per user: distinct, carted and abandoned items of `user_items` (user_key, item_key, last_cart_ts_30d and
   last_purchase_ts_30d: the last cart and purchase in the last 30 days, null if none). #}
{% macro item_stats_of(user_items) %}
    select
        user_key,
        count(*) as distinct_items_30d,
        count(last_cart_ts_30d) as carted_items_30d,
        count(case when {{ abandoned("last_cart_ts_30d", "last_purchase_ts_30d") }} then 1 end)
            as abandoned_items_30d
    from {{ user_items }}
    group by user_key
{% endmacro %}


{# Per user: events, sum of c ln c, the top category (most events, ties to the first name) and its events,
   of `categories` (user_key, category, events). #}
{% macro category_stats_of(categories) %}
    select
        c.user_key,
        sum(c.events) as events,
        sum({{ count_log_count("c.events") }}) as sum_c_ln_c,
        min(case when c.events = m.top_events then c.category end) as top_category,
        max(m.top_events) as top_events
    from {{ categories }} as c
    inner join (
        select user_key, max(events) as top_events from {{ categories }} group by user_key
    ) as m on m.user_key = c.user_key
    group by c.user_key
{% endmacro %}


{# Per user: the top category (most events, ties to the first name) of `candidates` (user_key, category,
   events) and its events. #}
{% macro top_category_of(candidates) %}
    select c.user_key, min(c.category) as top_category, max(c.events) as top_events
    from {{ candidates }} as c
    inner join (
        select user_key, max(events) as top_events from {{ candidates }} group by user_key
    ) as m on m.user_key = c.user_key and m.top_events = c.events
    group by c.user_key
{% endmacro %}


{#
  The features from the CTEs `per_user` (per user_id and its user_key: last_event_ts, last_purchase_ts,
  first_event_ts, every window sum of user_window_sums(), between_gap_sum_90d / _sq_sum_90d), and, per
  user_key, `novel_items` (novel_items_30d), `item_stats` (item_stats_of) and `category_stats`
  (category_stats_of): the CTEs after them and the final select, shared by the as-of and the
  sliding-window builds.
#}
{% macro user_features_select(cutoff) %}
{%- set active_days = var("active_days") | int -%}
{%- set cutoff_date = "cast(" ~ cutoff ~ " as date)" -%}
{%- set types = ["events", "views", "clicks", "carts", "purchases"] -%}
{%- set recs = adapter.get_relation(database=target.database, schema="marts", identifier="user_recommendations") %}
{% if recs is not none and execute %}
-- Interactions in the last 30 days on items recommended to the user by a run before the interaction's day.
first_recommended as (
    select
        {{ id_key("user_id") }} as user_key,
        {{ id_key("item_id") }} as item_key,
        min(cast(run_date as date)) as first_run_date
    from {{ recs }}
    where cast(run_date as date) < {{ cutoff_date }}
    group by user_id, item_id
),

rec_hits as (
    select d.user_key, sum(d.events) as rec_events_30d
    from {{ ref('int_user_item_daily') }} as d
    inner join first_recommended as r
        on r.user_key = d.user_key and r.item_key = d.item_key and r.first_run_date < d.activity_date
    where d.activity_date < {{ cutoff_date }}
      and d.activity_date >= {{ days_before(cutoff, 30) }}
    group by d.user_key
),
{% else %}
-- marts.user_recommendations does not exist (yet): no recommendation engagement.
rec_hits as (
    select user_key, 0 as rec_events_30d from per_user where 1 = 0
),
{% endif %}

active as (
    select * from per_user
    where last_event_ts >= {{ dbt.dateadd("day", -1 * active_days, cutoff) }}
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
    cast(p.purchase_value_30d as double) as purchase_value_30d,
    p.active_days_30d,
    coalesce(i.distinct_items_30d, 0) as distinct_items_30d,
    {%- for w in [1, 7, 30, 90] %}
    {%- for t in types if not (w in [7, 30] and t == "events") and not (w == 30 and t in ["views", "clicks", "carts", "purchases"]) %}
    p.{{ t }}_{{ w }}d,
    {%- endfor %}
    {%- endfor %}
    cast(p.purchase_value_90d as double) as purchase_value_90d,
    p.active_days_90d,
    p.sessions_30d,
    {{ safe_ratio("p.session_seconds_30d", "p.sessions_30d * 60") }} as mean_session_minutes_30d,
    -- Inter-event times over the last 90 days (every gap between consecutive events), in hours; null with
    -- fewer than two events. std is the population standard deviation.
    case when p.events_90d > 1 then
        cast(p.within_gap_sum_90d + p.between_gap_sum_90d as double) / (p.events_90d - 1) / 3600
    end as inter_event_hours_mean_90d,
    case when p.events_90d > 1 then
        sqrt(greatest(
            cast(p.within_gap_sq_sum_90d + p.between_gap_sq_sum_90d as double) / (p.events_90d - 1)
            - power(cast(p.within_gap_sum_90d + p.between_gap_sum_90d as double) / (p.events_90d - 1), 2),
            0
        )) / 3600
    end as inter_event_hours_std_90d,
    -- Least-squares slope of the weekly event counts over the last 4 weeks (week 1 = oldest, x = 1..4):
    -- events per week, per week.
    cast(-1.5 * p.week_1_events - 0.5 * p.week_2_events + 0.5 * p.week_3_events + 1.5 * p.week_4_events
         as double) / 5 as activity_trend_4w,
    {{ safe_ratio("i.abandoned_items_30d", "i.carted_items_30d") }} as cart_abandonment_30d,
    c.top_category as top_category_90d,
    -- Shannon entropy (natural log) of the user's event counts per category over the last 90 days.
    greatest(coalesce(ln(cast(c.events as double)) - cast(c.sum_c_ln_c as double) / c.events, 0), 0)
        as category_entropy_90d,
    {{ safe_ratio("n.novel_items_30d", "i.distinct_items_30d") }} as novel_item_share_30d,
    {{ safe_ratio("coalesce(r.rec_events_30d, 0)", "p.events_30d") }} as rec_engagement_30d
from active as p
left join {{ ref('stg_users') }} as u on u.user_id = p.user_id
left join novel_items as n on n.user_key = p.user_key
left join item_stats as i on i.user_key = p.user_key
left join category_stats as c on c.user_key = p.user_key
left join rec_hits as r on r.user_key = p.user_key
{% endmacro %}
