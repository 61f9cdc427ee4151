select
    user_id,
    signup_ts
from {{ source('raw', 'users') }}
