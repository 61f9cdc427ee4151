"""Churn model plots for MLflow: ROC, precision-recall, calibration curve, lift by decile and, for
tree models, mean |SHAP value| per feature."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on servers and in Airflow workers

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from training.churn_evaluation import decile_churn_rates  # noqa: E402

TOP_FEATURES = 20


def _axes(title: str, xlabel: str, ylabel: str) -> tuple[Figure, plt.Axes]:
    figure, axes = plt.subplots(figsize=(5, 4), layout="constrained")
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return figure, axes


def roc_figure(y: np.ndarray, p: np.ndarray) -> Figure:
    fpr, tpr, _ = roc_curve(y, p)
    figure, axes = _axes("ROC", "false positive rate", "true positive rate")
    axes.plot(fpr, tpr)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    return figure


def pr_figure(y: np.ndarray, p: np.ndarray) -> Figure:
    precision, recall, _ = precision_recall_curve(y, p)
    figure, axes = _axes("Precision-recall", "recall", "precision")
    axes.plot(recall, precision)
    axes.axhline(float(np.mean(y)), linestyle=":", color="grey", label="churn rate")
    axes.legend()
    return figure


def calibration_figure(y: np.ndarray, p: np.ndarray) -> Figure:
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    figure, axes = _axes("Calibration (deciles of p)", "mean predicted probability", "observed churn rate")
    axes.plot(predicted, observed, marker="o")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    return figure


def lift_figure(y: np.ndarray, p: np.ndarray) -> Figure:
    lift = decile_churn_rates(y, p) / max(float(np.mean(y)), 1e-12)
    figure, axes = _axes("Lift by decile (1 = riskiest 10 %)", "decile", "churn rate / overall rate")
    axes.bar(np.arange(1, 11), lift)
    axes.axhline(1.0, linestyle=":", color="grey")
    return figure


def shap_figure(shap_values: pd.DataFrame) -> Figure:
    importance = shap_values.abs().mean().sort_values().tail(TOP_FEATURES)
    figure, axes = _axes("Mean |SHAP value| (log-odds)", "mean |SHAP|", "")
    axes.barh(importance.index, importance.to_numpy())
    return figure


def churn_figures(y: np.ndarray, p: np.ndarray, model: object, frame: pd.DataFrame) -> dict[str, Figure]:
    """Artifact file name -> figure, for the validation rows `frame` with labels `y` and predictions `p`."""
    figures = {
        "plots/roc.png": roc_figure(y, p),
        "plots/precision_recall.png": pr_figure(y, p),
        "plots/calibration.png": calibration_figure(y, p),
        "plots/lift_by_decile.png": lift_figure(y, p),
    }
    if hasattr(model, "shap_values"):
        figures["plots/shap_importance.png"] = shap_figure(model.shap_values(frame))
    return figures
