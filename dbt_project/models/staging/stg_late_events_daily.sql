-- Late events per partition date: events whose UTC date of ts is before the partition (event_date) they
-- were loaded in. They are kept in stg_events (and so in the features); this only counts them.
select
    event_date,
    count(*) as events,
    count(case when cast(ts as date) < event_date then 1 end) as late_events,
    min(cast(ts as date)) as earliest_activity_date
from {{ ref('stg_events') }}
group by event_date
