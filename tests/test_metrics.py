import pytest

from isocl.harness.metrics import accuracy_after_each, average_accuracy, bwt, forgetting, summarise

# rows: after training experience i; columns: accuracy on experience j
MATRIX = [
    [0.90, 0.10, 0.00],
    [0.60, 0.80, 0.05],
    [0.50, 0.70, 0.95],
]


def test_average_accuracy_is_the_mean_of_the_last_row():
    assert average_accuracy(MATRIX) == pytest.approx((0.50 + 0.70 + 0.95) / 3)


def test_forgetting_is_best_earlier_minus_final():
    # exp 0: best before the end 0.90, final 0.50 -> 0.40; exp 1: best 0.80, final 0.70 -> 0.10
    assert forgetting(MATRIX) == pytest.approx((0.40 + 0.10) / 2)


def test_bwt_is_final_minus_just_trained():
    assert bwt(MATRIX) == pytest.approx(((0.50 - 0.90) + (0.70 - 0.80)) / 2)


def test_forgetting_uses_the_best_not_the_first_accuracy():
    rising_then_falling = [[0.5, 0.0], [0.9, 0.8], [0.6, 0.9]]
    # exp 0 peaked at 0.9 (after exp 1), not at its first 0.5; exp 1 improved afterwards (negative forgetting)
    assert forgetting(rising_then_falling) == pytest.approx(((0.9 - 0.6) + (0.8 - 0.9)) / 2)
    assert bwt(rising_then_falling) == pytest.approx(((0.6 - 0.5) + (0.9 - 0.8)) / 2)


def test_curve_and_single_row():
    assert accuracy_after_each(MATRIX) == pytest.approx([0.90, 0.70, (0.50 + 0.70 + 0.95) / 3])
    joint = summarise([[0.8, 0.9]])
    assert joint["average_accuracy"] == pytest.approx(0.85)
    assert joint["forgetting"] is None and joint["bwt"] is None
