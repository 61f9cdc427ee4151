{#
  Features of every catalogue item as of `cutoff` (a timestamp expression at a midnight), from the days
  strictly before it.
#}
{% macro item_features_as_of(cutoff) %}
{%- set cutoff_date = "cast(" ~ cutoff ~ " as date)" -%}
{%- set bigint = api.Column.translate_type("bigint") -%}
with activity as (
    select
        item_id,
        {{ dbt.cast("sum(case when activity_date >= " ~ days_before(cutoff, 7) ~ " then events else 0 end)", bigint) }} as events_7d,
        {{ dbt.cast("sum(case when activity_date >= " ~ days_before(cutoff, 30) ~ " then events else 0 end)", bigint) }} as events_30d,
        {{ dbt.cast("sum(case when activity_date >= " ~ days_before(cutoff, 7) ~ " then purchases else 0 end)", bigint) }} as purchases_7d,
        {{ dbt.cast("sum(case when activity_date >= " ~ days_before(cutoff, 30) ~ " then purchases else 0 end)", bigint) }} as purchases_30d,
        {{ dbt.cast("sum(case when activity_date >= " ~ days_before(cutoff, 30) ~ " then views else 0 end)", bigint) }} as views_30d,
        max(last_ts) as last_event_ts
    from {{ ref('int_item_daily_activity') }}
    where activity_date < {{ cutoff_date }}
    group by item_id
)

select
    i.item_id,
    cast({{ cutoff }} as date) as cutoff_date,
    i.category,
    i.price,
    -- Price quintile within the item's category: 1 = cheapest fifth, 5 = dearest (ties broken by item_id).
    ntile(5) over (partition by i.category order by i.price, i.item_id) as price_band,
    coalesce(a.events_7d, 0) as events_7d,
    coalesce(a.events_30d, 0) as events_30d,
    coalesce(a.purchases_7d, 0) as purchases_7d,
    coalesce(a.purchases_30d, 0) as purchases_30d,
    coalesce(a.views_30d, 0) as views_30d,
    -- purchases / views over the last 30 days; 0 without views (can exceed 1 if items are bought unviewed).
    {{ safe_ratio("coalesce(a.purchases_30d, 0)", "a.views_30d") }} as view_to_purchase_rate_30d,
    {{ dbt.datediff("a.last_event_ts", cutoff, "day") }} as days_since_last_event
from {{ ref('stg_items') }} as i
left join activity as a on a.item_id = i.item_id
{% endmacro %}
