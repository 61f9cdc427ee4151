-- Features + churn labels stacked for several past cutoffs (see snapshot_cutoffs in macros/cutoffs.sql):
-- every `snapshot_every_days` (7) days back from the label cutoff, `snapshot_count` (6) of them, each with
-- its label window complete before the run's cutoff. cutoff_date identifies the snapshot.
{% for c in snapshot_cutoffs() %}
{% if not loop.first %}union all{% endif %}
select * from (
    {{ training_snapshot_as_of(c) }}
) as snapshot_{{ loop.index }}
{% endfor %}
