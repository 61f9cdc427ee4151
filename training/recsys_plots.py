"""Evaluation artifacts: a metric by user-activity bucket, model against its popularity baseline."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on the workers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# Buckets of training interactions per user: cold, light, regular, heavy.
ACTIVITY_EDGES = (0, 5, 20, 100, np.inf)
ACTIVITY_LABELS = ("1-4", "5-19", "20-99", "100+")


def by_activity(per_user: pd.DataFrame, train: pd.DataFrame, metric: str = "ndcg") -> pd.DataFrame:
    """Mean `metric` and user count per activity bucket (training interactions of the user)."""
    activity = train.groupby("user_id").size().reindex(per_user["user_id"], fill_value=0).to_numpy()
    bucket = pd.cut(activity, ACTIVITY_EDGES, labels=ACTIVITY_LABELS, right=False)
    grouped = per_user.assign(bucket=bucket).groupby("bucket", observed=False)[metric]
    return pd.DataFrame({metric: grouped.mean().fillna(0.0), "users": grouped.size()})


def activity_figure(buckets: dict[str, pd.DataFrame], metric: str, title: str) -> plt.Figure:
    """Grouped bars: one bar per model in each activity bucket, user counts on the x labels."""
    figure, axes = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(buckets), 1)
    first = next(iter(buckets.values()))
    x = np.arange(len(first))
    for offset, (model, frame) in enumerate(buckets.items()):
        axes.bar(x + offset * width, frame.iloc[:, 0].to_numpy(), width, label=model)
    axes.set_xticks(x + width * (len(buckets) - 1) / 2)
    axes.set_xticklabels([f"{b}\n({n} users)" for b, n in zip(first.index, first["users"], strict=True)])
    axes.set_xlabel("training interactions per user")
    axes.set_ylabel(metric)
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    return figure
