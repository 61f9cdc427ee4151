{{ config(materialized="table") }}
-- Typed behavioural events, one row per event_id (the first loaded copy wins). A table, not a view: the
-- deduplication runs once per build instead of once per reader.
with ranked as (
    select
        event_id,
        user_id,
        item_id,
        event_type,
        ts,
        value,
        session_id,
        event_date,
        row_number() over (partition by event_id order by event_date, ts) as copy_number
    from {{ source('raw', 'events') }}
)

select event_id, user_id, item_id, event_type, ts, value, session_id, event_date
from ranked
where copy_number = 1
