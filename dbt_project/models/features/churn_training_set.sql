-- Features as of the label cutoff (the run's cutoff - horizon_days) joined with the labels that follow it:
-- the churn model's training data, always at the freshest complete label window.
{{ training_snapshot_as_of(label_cutoff()) }}
