-- Features as of the label cutoff joined with the labels that follow it: the churn model's training data.
with features as (
    {{ user_features_as_of(label_cutoff()) }}
)

select f.*, l.churned
from features as f
inner join {{ ref('churn_labels') }} as l on l.user_id = f.user_id
