{#
  Typed behavioural events, one row per event_id.

  A view: ingest already guarantees one row per event_id (it rejects a file with a duplicated event_id and
  an event_id already loaded under another date; see retention/ingest.py), which the `unique` test below
  asserts, so copying ten million rows into a deduplicated table each night would buy nothing. The
  day-incremental models downstream read only the days they rebuild, and DuckDB pushes their filters on
  `ts` into the scan of raw.events.
#}
select
    event_id,
    user_id,
    item_id,
    {{ id_key("user_id") }} as user_key,  -- macros/keys.sql
    {{ id_key("item_id") }} as item_key,
    event_type,
    ts,
    value,
    session_id,
    event_date
from {{ source('raw', 'events') }}
