-- The first day each user interacted with each item (from the days before the cutoff). Point-in-time safe
-- for any earlier cutoff c too: a pair seen before c has first_date < c whatever came later, so "never seen
-- before the window [c - 30 days, c)" = first_date >= c - 30 days.
--
-- Incremental by day like the per-day tables (macros/incremental.sql): the pre-hook drops the pairs first
-- seen on a rebuilt day, then the pairs of the rebuilt days that are not already known are added
-- with their first day there. A pair kept from before the start has no earlier day to find, so the table
-- equals a full refresh.
{{ config(
    materialized="incremental",
    incremental_strategy="append",
    pre_hook=["{{ incremental_reset('first_date') }}"],
) }}

with pairs as (
    select user_key, item_key, min(activity_date) as first_date
    from {{ ref('int_user_item_daily') }}
    where {{ incremental_date_filter('activity_date', 'first_date') }}
    group by user_key, item_key
)

select p.user_key, p.item_key, p.first_date
from pairs as p
{% if is_incremental() %}
where not exists (
    select 1 from {{ this }} as known where known.user_key = p.user_key and known.item_key = p.item_key
)
{% endif %}
