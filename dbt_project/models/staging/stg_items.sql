select
    item_id,
    {{ id_key("item_id") }} as item_key,  -- macros/keys.sql
    title,
    category,
    cast(price as double) as price
from {{ source('raw', 'items') }}
