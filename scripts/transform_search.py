"""The search behind ``svm_log`` (docs/model_selection/notes.md): skew transforms before scaling.

Every configuration is evaluated exactly as ``bcml compare --tune --target-recall 0.98`` does it
(same training split, same outer folds, 5 inner folds choosing the grid point by ROC AUC and the
threshold on the pooled inner out-of-fold predictions); the held-out test split is never used.
Prints one Markdown row per configuration and outer-fold set.

.venv/bin/python scripts/transform_search.py                      # every row of the notes (~15 min)
.venv/bin/python scripts/transform_search.py --configs svm_log --folds 10x2
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, PowerTransformer, QuantileTransformer

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.folds import Fold, stratified_folds
from breast_cancer_ml.domain.models import CANDIDATES, build_pipeline
from breast_cancer_ml.domain.nested_cv import evaluate_candidate
from breast_cancer_ml.domain.threshold import threshold_for_recall
from breast_cancer_ml.pipelines.train import split_dataset
from breast_cancer_ml.settings import BUNDLED_DATA

SEED = 42
TARGET = 0.98
METRICS = ("recall", "precision", "roc_auc")


def _transformed(base: str, first: list[tuple[str, Any]], drop_scaler: bool) -> Callable[[], Any]:
    """Registry pipeline ``base`` with ``first`` steps in front (and without its scaler)."""

    def build() -> Any:
        steps = build_pipeline(base, SEED).steps
        if drop_scaler:
            steps = [(n, s) for n, s in steps if n != "scaler"]
        return Pipeline([*first, *steps])

    return build


def _log1p() -> list[tuple[str, Any]]:
    return [("log1p", FunctionTransformer(np.log1p))]


def _yeo_johnson() -> list[tuple[str, Any]]:
    return [("power", PowerTransformer(method="yeo-johnson", standardize=True))]


def _quantile() -> list[tuple[str, Any]]:
    qt = QuantileTransformer(n_quantiles=100, output_distribution="normal", random_state=SEED)
    return [("quantile", qt)]


#: name -> (grid of the registry model it extends, builder)
CONFIGS: dict[str, tuple[str, Callable[[], Any]]] = {
    "logreg": ("logreg", lambda: build_pipeline("logreg", SEED)),
    "svm_rbf": ("svm_rbf", lambda: build_pipeline("svm_rbf", SEED)),
    "log1p+logreg": ("logreg", lambda: _transformed("logreg", _log1p(), False)()),
    "svm_log": ("svm_rbf", lambda: build_pipeline("svm_log", SEED)),
    "yeo-johnson+logreg": ("logreg", lambda: _transformed("logreg", _yeo_johnson(), True)()),
    "yeo-johnson+svm": ("svm_rbf", lambda: _transformed("svm_rbf", _yeo_johnson(), True)()),
    "quantile+logreg": ("logreg", lambda: _transformed("logreg", _quantile(), True)()),
    "quantile+svm": ("svm_rbf", lambda: _transformed("svm_rbf", _quantile(), True)()),
}


def outer_folds(y: Any, which: str) -> list[Fold]:
    """``10x2``/``10x5``: repeats 1-2/1-5 of compare's folds; ``fresh``: repeats 6-10."""
    if which == "fresh":
        return [f for f in stratified_folds(y, 10, 10, SEED) if f.repeat >= 5]
    return stratified_folds(y, 10, int(which.split("x")[1]), SEED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated")
    parser.add_argument("--folds", default="10x2,10x5", help="10x2, 10x5 and/or fresh")
    args = parser.parse_args()
    split = split_dataset(load_dataset(BUNDLED_DATA), 0.2, SEED)
    X, y = split.X_train, split.y_train

    def inner(X_sub: Any, y_sub: Any) -> list[tuple[Any, Any]]:
        return [(f.train, f.test) for f in stratified_folds(y_sub, 5, 1, SEED)]

    print(
        "| configuration | outer folds | recall | precision | ROC AUC |\n|---|---|---:|---:|---:|"
    )
    for which in args.folds.split(","):
        outer = outer_folds(y, which)
        for name in args.configs.split(","):
            grid_of, make = CONFIGS[name]

            def build(params: Mapping[str, Any], make: Callable[[], Any] = make) -> Any:
                return make().set_params(**params)

            outcomes = evaluate_candidate(
                build,
                CANDIDATES[grid_of].grid,
                X,
                y,
                outer,
                inner,
                threshold_for_recall,
                tune=True,
                tune_metric="roc_auc",
                target_recall=TARGET,
            )
            means = [np.mean([o.metrics[m] for o in outcomes]) for m in METRICS]
            print(
                f"| {name} | {which} | " + " | ".join(f"{v:.4f}" for v in means) + " |", flush=True
            )


if __name__ == "__main__":
    main()
