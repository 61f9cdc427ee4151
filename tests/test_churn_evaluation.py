"""Churn metrics on hand-made cases, and calibration improving ECE on a constructed miscalibrated score."""

import numpy as np
import pytest

from training.calibration import Calibrator
from training.churn_evaluation import churn_metrics, decile_churn_rates, expected_calibration_error


def test_a_perfect_ranking_scores_one_and_lifts_by_the_inverse_churn_rate():
    y = np.array([1] * 10 + [0] * 90)
    p = np.linspace(1, 0, 100)  # the ten churners first
    metrics = churn_metrics(y, p)
    assert metrics["roc_auc"] == pytest.approx(1.0)
    assert metrics["pr_auc"] == pytest.approx(1.0)
    assert metrics["top_decile_lift"] == pytest.approx(10.0)  # 100 % churn in the top tenth vs 10 %


def test_brier_and_log_loss_match_their_formulas():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.8, 0.2, 0.6, 0.4])
    metrics = churn_metrics(y, p)
    assert metrics["brier"] == pytest.approx(np.mean([0.04, 0.04, 0.16, 0.16]))
    assert metrics["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.8, 0.6, 0.6])))


def test_expected_calibration_error_by_hand():
    # Bin [0.2, 0.3): predicted 0.25 twice, observed 1/2 -> gap 0.25 for 2 of 4 rows.
    # Bin [0.9, 1.0]: predicted 0.9 and 1.0, observed 1 and 1 -> gap 0.05 for 2 of 4 rows.
    y = np.array([1, 0, 1, 1])
    p = np.array([0.25, 0.25, 0.9, 1.0])
    assert expected_calibration_error(y, p) == pytest.approx((2 * 0.25 + 2 * 0.05) / 4)
    assert expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0


def test_decile_rates_put_the_riskiest_tenth_first():
    y = np.array([0] * 90 + [1] * 10)
    p = np.arange(100) / 100  # the churners have the highest scores
    rates = decile_churn_rates(y, p)
    assert rates[0] == 1.0 and rates[1:].sum() == 0.0


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_on_held_out_rows_lowers_the_ece_of_a_miscalibrated_score(method):
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 1, 20_000)
    y = (rng.uniform(0, 1, truth.size) < truth).astype(int)
    raw = truth**3  # right ranking, probabilities far too low
    fit, test = slice(0, 10_000), slice(10_000, None)
    calibrated = Calibrator(method).fit(raw[fit], y[fit]).transform(raw[test])
    before = expected_calibration_error(y[test], raw[test])
    after = expected_calibration_error(y[test], calibrated)
    assert before > 0.15
    assert after < 0.03
    # Platt is a monotone map of the logit: the ranking (and the ROC-AUC) is unchanged.
    if method == "platt":
        assert churn_metrics(y[test], calibrated)["roc_auc"] == pytest.approx(
            churn_metrics(y[test], raw[test])["roc_auc"]
        )
