-- The newest training snapshot: features and churn labels at the freshest cutoff of training_snapshots, the
-- one the churn model validates on (training/churn_data.py: temporal_split). A view: a night builds the
-- snapshots once (incremental), not these features a second time.
{{ config(materialized="view") }}
select *
from {{ ref('training_snapshots') }}
where cutoff_date = (select max(cutoff_date) from {{ ref('training_snapshots') }})
