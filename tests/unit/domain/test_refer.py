"""The refer decision at the point of answer (domain/refer.py): the one-case path /predict uses
equals the conformal module's rule, the vectorised path equals the one-case path, and a model
without a refer rule answers its thresholded class."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from breast_cancer_ml.domain.conformal import ConformalParams, decide_one, joined_set_names
from breast_cancer_ml.domain.refer import DECISIONS, SET_LABELS, refer_one, refer_rows

unit = st.floats(0, 1, allow_nan=False)
rules = st.builds(
    lambda a, qb, qm: ConformalParams(
        alpha=a, q_benign=qb, q_malignant=qm, n_benign=10, n_malignant=10
    ),
    st.floats(0.001, 0.5),
    unit,
    unit,
)
envelope = st.sampled_from([True, False, None])


@given(rule=rules, p=unit, prediction=st.sampled_from([0, 1]), inside=envelope)
def test_one_case_path_equals_the_conformal_modules_rule(
    rule: ConformalParams, p: float, prediction: int, inside: bool | None
) -> None:
    expected = decide_one(rule, p, in_envelope=inside is not False, prediction=prediction)
    assert refer_one(rule, p, prediction, inside) == expected


@given(
    rule=st.none() | rules,
    cases=st.lists(
        st.tuples(unit, st.sampled_from([0, 1]), st.booleans()), min_size=0, max_size=20
    ),
    has_envelope=st.booleans(),
)
def test_vectorised_path_answers_each_row_as_the_one_case_path(
    rule: ConformalParams | None, cases: list[tuple[float, int, bool]], has_envelope: bool
) -> None:
    p = np.array([c[0] for c in cases], dtype=np.float64)
    pred = np.array([c[1] for c in cases], dtype=np.int64)
    inside = np.array([c[2] for c in cases], dtype=bool) if has_envelope else None
    referral = refer_rows(rule, p, pred, inside)
    one = [refer_one(rule, c[0], c[1], c[2] if has_envelope else None) for c in cases]
    assert referral.decision.tolist() == [d for _, d in one]
    assert referral.joined_sets.tolist() == [";".join(names) for names, _ in one]
    # the codes batch output labels with say the same
    assert [DECISIONS[i] for i in referral.decision_codes.tolist()] == [d for _, d in one]
    assert [SET_LABELS[i] for i in referral.set_codes.tolist()] == referral.joined_sets.tolist()
    assert referral.n_referred == sum(d == "refer" for _, d in one)
    assert sum(referral.counts().values()) == len(cases)


def test_without_a_rule_the_set_is_the_thresholded_class_and_outside_cases_are_referred() -> None:
    assert refer_one(None, 0.9, 1, True) == (["Malignant"], "malignant")
    assert refer_one(None, 0.45, 0, True) == (["Benign"], "benign")
    assert refer_one(None, 0.9, 1, False) == (["Malignant"], "refer")
    # no envelope at all (a bare MLflow model): nothing referred on that ground
    assert refer_one(None, 0.1, 0, None) == (["Benign"], "benign")


def test_a_borderline_case_gets_both_classes_and_is_referred() -> None:
    rule = ConformalParams(alpha=0.05, q_benign=0.8, q_malignant=0.8, n_benign=5, n_malignant=5)
    assert refer_one(rule, 0.5, 1, True) == (["Benign", "Malignant"], "refer")
    assert refer_one(rule, 0.95, 1, True) == (["Malignant"], "malignant")
    # a single-class set that disagrees with the threshold's prediction is referred
    assert refer_one(rule, 0.1, 1, True) == (["Benign"], "refer")


def test_set_labels_are_the_batch_columns_four_values() -> None:
    rows = np.array([[False, False], [False, True], [True, False], [True, True]])
    assert list(SET_LABELS) == joined_set_names(rows).tolist()
    assert SET_LABELS == ("", "Malignant", "Benign", "Benign;Malignant")


@pytest.mark.parametrize("p", [math.nan, -0.1, 1.5])
def test_a_probability_outside_0_1_is_refused_not_answered(p: float) -> None:
    rule = ConformalParams(alpha=0.05, q_benign=0.8, q_malignant=0.8, n_benign=5, n_malignant=5)
    with pytest.raises(ValueError, match="within \\[0, 1\\]"):
        refer_one(rule, p, 1, True)
