-- Churn labels at the label cutoff (one horizon before the feature cutoff, so the window is complete):
-- a user active before the label cutoff churned if they had no event in [label_cutoff, cutoff).
{{ churn_labels_as_of(label_cutoff()) }}
