-- Features as of the label cutoff joined with the labels that follow it: the churn model's training data
-- (the newest snapshot of training_snapshots).
select *
from {{ ref('training_snapshots') }}
where cutoff_date = cast({{ label_cutoff() }} as date)
