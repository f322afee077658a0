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
    rising_then_falling = [[0.5, 0.0, 0.0], [0.9, 0.8, 0.0], [0.6, 0.9, 0.7]]
    # exp 0 peaked at 0.9 (after exp 1), not at its first 0.5; exp 1 improved afterwards (negative forgetting)
    assert forgetting(rising_then_falling) == pytest.approx(((0.9 - 0.6) + (0.8 - 0.9)) / 2)
    assert bwt(rising_then_falling) == pytest.approx(((0.6 - 0.5) + (0.9 - 0.8)) / 2)


def test_curve_and_single_row():
    assert accuracy_after_each(MATRIX) == pytest.approx([0.90, 0.70, (0.50 + 0.70 + 0.95) / 3])
    joint = summarise([[0.8, 0.9]])
    assert joint["average_accuracy"] == pytest.approx(0.85)
    assert joint["forgetting"] is None and joint["bwt"] is None


# --- removals: the last row is the end, whatever its event --------------------------------------------------------

# rows after: train 0, train 1, train 2, remove 2
REMOVE_LAST = [
    [0.9, 0.0, 0.0],
    [0.7, 0.8, 0.0],
    [0.5, 0.6, 0.9],
    [0.4, 0.1, 0.3],
]
REMOVE_LAST_EVENTS = [("train", 0), ("train", 1), ("train", 2), ("remove", 2)]


def test_removing_the_last_trained_experience_leaves_the_one_before_it_forgettable():
    # retained: 0 and 1, both trained before the last row (the removal changed the model after experience 1 too)
    # exp 0: best of 0.9, 0.7, 0.5 is 0.9, final 0.4 -> 0.5; exp 1: best of 0.8, 0.6 is 0.8, final 0.1 -> 0.7
    assert forgetting(REMOVE_LAST, REMOVE_LAST_EVENTS) == pytest.approx((0.5 + 0.7) / 2)  # 0.6, not 0.5
    assert bwt(REMOVE_LAST, REMOVE_LAST_EVENTS) == pytest.approx(((0.4 - 0.9) + (0.1 - 0.8)) / 2)  # -0.6
    assert average_accuracy(REMOVE_LAST, REMOVE_LAST_EVENTS) == pytest.approx((0.4 + 0.1) / 2)


def test_an_experience_followed_only_by_a_removal_can_be_forgotten():
    # train 0, train 1, remove 1: experience 0 fell from 0.9 to 0.5 (best of 0.9 and 0.7)
    matrix = [[0.9, 0.0], [0.7, 0.8], [0.5, 0.1]]
    events = [("train", 0), ("train", 1), ("remove", 1)]
    assert forgetting(matrix, events) == pytest.approx(0.4)
    assert bwt(matrix, events) == pytest.approx(0.5 - 0.9)


def test_removal_in_the_middle_and_joint_last_row():
    # train 0, train 1, remove 0, train 2: only experience 1 qualifies (0 is removed, 2 is trained by the last row)
    matrix = [[0.9, 0.0, 0.0], [0.5, 0.8, 0.0], [0.0, 0.7, 0.0], [0.0, 0.6, 0.9]]
    events = [("train", 0), ("train", 1), ("remove", 0), ("train", 2)]
    assert forgetting(matrix, events) == pytest.approx(0.8 - 0.6)
    assert bwt(matrix, events) == pytest.approx(0.6 - 0.8)
    # a last row that trains two experiences at once leaves only the one trained before it
    joint_last = [[0.9, 0.0, 0.0], [0.6, 0.7, 0.8]]
    assert forgetting(joint_last, [("train", 0), ("train", [1, 2])]) == pytest.approx(0.9 - 0.6)
    assert bwt(joint_last, [("train", 0), ("train", [1, 2])]) == pytest.approx(0.6 - 0.9)


def test_only_removed_experiences_before_the_end_give_none():
    # train 0, remove 0, train 1: experience 1 is trained by the last row, experience 0 is gone
    matrix = [[0.9, 0.0], [0.2, 0.0], [0.1, 0.8]]
    events = [("train", 0), ("remove", 0), ("train", 1)]
    assert forgetting(matrix, events) is None and bwt(matrix, events) is None
