select
    item_id,
    title,
    category,
    cast(price as double) as price
from {{ source('raw', 'items') }}
