"""Each registry entry builds the estimator its name promises (type, kernel, key settings), and
a pipeline without the linear fast path is scored by its own ``predict_proba``.

A real small non-linear model (a decision tree fitted on bundled WDBC rows) exercises the
generic scoring path; nothing of scikit-learn is replaced.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.models import (
    CANDIDATES,
    ESTIMATOR_STEP,
    build_pipeline,
    estimator_params,
    get_candidate,
)
from breast_cancer_ml.domain.scoring import proba_function, score
from breast_cancer_ml.settings import BUNDLED_DATA, TrainSettings

# name -> (steps before the estimator, estimator type); the step names are part of the
# hyperparameter names logged and tuned ("scaler__with_mean", "estimator__C")
SCALER = ("scaler", StandardScaler)
SHAPES = {
    "logreg": ([SCALER], LogisticRegression),
    "decision_tree": ([], DecisionTreeClassifier),
    "random_forest": ([], RandomForestClassifier),
    "svm_rbf": ([SCALER], CalibratedClassifierCV),
    "svm_log": ([("log1p", FunctionTransformer), SCALER], CalibratedClassifierCV),
    "hist_gb": ([], HistGradientBoostingClassifier),
    "knn": ([SCALER], KNeighborsClassifier),
}


def test_the_registry_is_the_seven_candidates() -> None:
    assert set(CANDIDATES) == set(SHAPES)
    assert TrainSettings.model_fields["model"].default == "logreg"  # `bcml train` without --model
    assert all(c.name == name for name, c in CANDIDATES.items())


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_builder_makes_the_estimator_its_name_promises(name: str) -> None:
    before, estimator_type = SHAPES[name]
    pipeline = build_pipeline(name, 7)
    assert isinstance(pipeline, Pipeline)
    *steps, (last, estimator) = pipeline.steps
    assert [(n, type(step)) for n, step in steps] == before
    assert last == ESTIMATOR_STEP
    assert type(estimator) is estimator_type
    # the model type logged with a run names the model really fitted
    fitted_type = estimator.estimator if name.startswith("svm") else estimator
    assert type(fitted_type).__name__ == get_candidate(name).model_type


@pytest.mark.parametrize("name", ["svm_rbf", "svm_log"])
def test_the_svms_are_rbf_svcs_with_platt_scaling(name: str) -> None:
    calibrated = build_pipeline(name, 7).named_steps[ESTIMATOR_STEP]
    assert (calibrated.method, calibrated.cv, calibrated.ensemble) == ("sigmoid", 5, False)
    svc = calibrated.estimator
    assert type(svc) is SVC
    assert (svc.kernel, svc.C, svc.gamma, svc.random_state) == ("rbf", 1.0, "scale", 7)


def test_seeds_reach_every_seeded_estimator() -> None:
    for name in ("logreg", "decision_tree", "random_forest", "hist_gb"):
        assert build_pipeline(name, 11).named_steps[ESTIMATOR_STEP].random_state == 11


def test_the_estimators_settings() -> None:
    assert build_pipeline("logreg", 0).named_steps[ESTIMATOR_STEP].max_iter == 1000
    forest = build_pipeline("random_forest", 0).named_steps[ESTIMATOR_STEP]
    assert (forest.n_estimators, forest.n_jobs) == (200, 1)
    assert build_pipeline("hist_gb", 0).named_steps[ESTIMATOR_STEP].early_stopping is False
    assert build_pipeline("knn", 0).named_steps[ESTIMATOR_STEP].get_params() == (
        KNeighborsClassifier().get_params()
    )


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_grid_point_is_a_parameter_of_its_pipeline(name: str) -> None:
    pipeline = build_pipeline(name, 0)
    grid = get_candidate(name).grid
    assert grid, "every candidate declares a grid for --tune"
    for param, values in grid.items():
        assert len(values) >= 2
        for value in values:
            pipeline.set_params(**{param: value})
            assert pipeline.get_params()[param] == value


def test_estimator_params_are_prefixed_and_skip_wrapped_estimators() -> None:
    params = estimator_params(build_pipeline("svm_rbf", 3), "svm_rbf")
    assert params["svm_method"] == "sigmoid"
    assert params["svm_estimator__kernel"] == "rbf"
    assert params["svm_estimator__random_state"] == 3
    assert "svm_estimator" not in params
    assert list(params) == sorted(params)
    assert estimator_params(build_pipeline("logreg", 0), "logreg")["lr_C"] == 1.0


def test_an_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'model' should be one of \['decision_tree', ") as err:
        get_candidate("svm")
    assert "Got 'svm' instead." in str(err.value)
    assert err.value.__cause__ is None


@pytest.fixture(scope="module")
def wdbc() -> tuple[np.ndarray, np.ndarray]:
    data = load_dataset(BUNDLED_DATA)
    return data.X, data.y


def test_a_tree_is_scored_by_its_own_predict_proba(wdbc: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = wdbc
    tree = build_pipeline("decision_tree", 0).set_params(estimator__max_depth=3)
    tree.fit(X[:120], y[:120])
    proba = proba_function(tree)
    expected = tree.predict_proba(X[120:200])[:, 1]
    got = proba(X[120:200])
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    # a tree's probabilities are leaf frequencies: a few distinct values, not a sigmoid
    assert len(np.unique(got)) < 10
    scored = score(proba, X[120:200], threshold=0.5)
    np.testing.assert_array_equal(scored.prediction, (expected >= 0.5).astype(np.int64))


@pytest.mark.parametrize(
    "scaler", [StandardScaler(), StandardScaler(with_mean=False), StandardScaler(with_std=False)]
)
def test_the_linear_fast_path_equals_predict_proba(
    wdbc: tuple[np.ndarray, np.ndarray], scaler: StandardScaler
) -> None:
    X, y = wdbc
    pipeline = Pipeline([("scaler", scaler), (ESTIMATOR_STEP, LogisticRegression(max_iter=5000))])
    pipeline.fit(X[:200], y[:200])
    proba = proba_function(pipeline)
    assert proba.__name__ == "linear"  # the fast path was taken
    np.testing.assert_allclose(
        proba(X[200:260]), pipeline.predict_proba(X[200:260])[:, 1], rtol=0, atol=1e-12
    )


@pytest.mark.parametrize(
    "pipeline",
    [
        Pipeline([(ESTIMATOR_STEP, LogisticRegression(max_iter=5000))]),
        Pipeline(
            [
                ("log1p", FunctionTransformer(np.log1p)),
                ("scaler", StandardScaler()),
                (ESTIMATOR_STEP, LogisticRegression(max_iter=5000)),
            ]
        ),
        Pipeline(
            [("scaler", FunctionTransformer()), (ESTIMATOR_STEP, LogisticRegression(max_iter=5000))]
        ),
    ],
    ids=["no scaler", "three steps", "not a StandardScaler"],
)
def test_other_linear_pipelines_take_the_generic_path(
    wdbc: tuple[np.ndarray, np.ndarray], pipeline: Pipeline
) -> None:
    X, y = wdbc
    pipeline.fit(X[:200], y[:200])
    proba = proba_function(pipeline)
    assert proba.__name__ == "generic"
    np.testing.assert_array_equal(proba(X[200:260]), pipeline.predict_proba(X[200:260])[:, 1])


def test_a_subclass_of_logistic_regression_takes_the_generic_path(
    wdbc: tuple[np.ndarray, np.ndarray],
) -> None:
    class Custom(LogisticRegression):
        """A subclass may override predict_proba: the fast path would silently skip it."""

    X, y = wdbc
    pipeline = Pipeline([("scaler", StandardScaler()), (ESTIMATOR_STEP, Custom(max_iter=5000))])
    pipeline.fit(X[:200], y[:200])
    assert proba_function(pipeline).__name__ == "generic"


def test_a_non_binary_classifier_is_refused(wdbc: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = wdbc
    tree = DecisionTreeClassifier(max_depth=2).fit(X[:30], np.arange(30) % 3)
    with pytest.raises(ValueError, match=r"classes \[0, 1\]; got \[0, 1, 2\]"):
        proba_function(tree)
    with pytest.raises(ValueError, match=r"got \[\]"):
        proba_function(object())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_model_computing_in_float32_still_answers_float64(
    wdbc: tuple[np.ndarray, np.ndarray],
) -> None:
    from sklearn.neural_network import MLPClassifier

    X, y = wdbc
    X32 = X.astype(np.float32)
    mlp = MLPClassifier(hidden_layer_sizes=(3,), max_iter=20, random_state=0)
    pipeline = Pipeline([("scaler", StandardScaler()), (ESTIMATOR_STEP, mlp)])
    pipeline.fit(X32[:100], y[:100])
    assert pipeline.predict_proba(X32[:5]).dtype == np.float32  # what the model gives
    got = proba_function(pipeline)(X32[:5])
    assert got.dtype == np.float64  # what every caller (JSON, Arrow, the NaN guard) gets
    np.testing.assert_array_equal(got, pipeline.predict_proba(X32[:5])[:, 1].astype(np.float64))
