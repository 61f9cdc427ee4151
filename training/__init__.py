"""Model training: churn models and recommenders, tracked in MLflow, promoted by one gate."""
