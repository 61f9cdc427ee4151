-- Features of every catalogue item at the run's cutoff.
{{ item_features_as_of(feature_cutoff()) }}
