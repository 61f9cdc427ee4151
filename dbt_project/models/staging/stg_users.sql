select
    user_id,
    {{ id_key("user_id") }} as user_key,  -- macros/keys.sql
    signup_ts
from {{ source('raw', 'users') }}
