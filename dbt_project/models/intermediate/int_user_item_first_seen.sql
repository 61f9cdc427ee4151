-- The first day each user interacted with each item (from the days before the cutoff). Point-in-time safe
-- for any earlier cutoff c too: a pair seen before c has first_date < c whatever came later, so "never seen
-- before the window [c - 30 days, c)" = first_date >= c - 30 days. Rebuilt each run (one group-by over the
-- per-day table) so that the features at several cutoffs need not each scan the whole history.
{{ config(materialized="table") }}

select user_id, item_id, min(activity_date) as first_date
from {{ ref('int_user_item_daily') }}
where activity_date < cast({{ feature_cutoff() }} as date)
group by user_id, item_id
