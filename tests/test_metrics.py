import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from transferstudy import metrics


def test_11_point_ap_on_hand_made_rankings():
    # Perfect ranking.
    assert metrics.average_precision_11point([1, 1, 0, 0], [0.9, 0.8, 0.3, 0.1]) == 1.0
    # The only positive ranked second: precision 1/2 at every recall threshold.
    assert metrics.average_precision_11point([0, 1], [0.9, 0.1]) == 0.5
    # Positives at ranks 1 and 3: interpolated precision 1 for t <= 0.5 (6 thresholds), 2/3 for t >= 0.6 (5).
    ap = metrics.average_precision_11point([1, 0, 1, 0, 0], [5, 4, 3, 2, 1])
    assert ap == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)
    # ... which is not the non-interpolated AP of scikit-learn ((1 + 2/3) / 2).
    assert average_precision_score([1, 0, 1, 0, 0], [5, 4, 3, 2, 1]) == pytest.approx(5 / 6)


def test_11_point_ap_needs_a_positive():
    with pytest.raises(ValueError, match="no positive"):
        metrics.average_precision_11point([0, 0], [0.1, 0.2])


def test_mean_ap_skips_classes_without_positives():
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.5], [0.1, 0.3, 0.5]])
    expected = np.mean([metrics.average_precision_11point(targets[:, 0], scores[:, 0]),
                        metrics.average_precision_11point(targets[:, 1], scores[:, 1])])
    assert metrics.score("map11", targets, scores) == pytest.approx(expected)


def test_top1_and_mean_per_class_differ_on_imbalanced_classes():
    labels = np.array([0, 0, 0, 1])
    scores = np.array([[1, 0], [1, 0], [1, 0], [1, 0]])  # always predicts class 0
    assert metrics.score("top1", labels, scores) == 0.75
    assert metrics.score("mean_per_class", labels, scores) == 0.5


def test_unknown_metric_is_named():
    with pytest.raises(ValueError, match="unknown metric 'top5'; valid: top1, mean_per_class, map11"):
        metrics.score("top5", [0], [[1.0]])
