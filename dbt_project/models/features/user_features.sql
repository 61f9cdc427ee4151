-- Behavioural features of the active users at the run's cutoff: what the churn model scores.
{{ user_features_as_of(feature_cutoff()) }}
