"""Which "refer to a pathologist" rule serves the goal? Measured honestly by repeated CV.

.venv/bin/python scripts/refer_policy.py [--model logreg] [--repeats 10] [--folds 5]

For each outer fold of ``--repeats`` x ``--folds`` stratified CV of the bundled data, every rule
is fitted on the outer-training rows only: their 5-fold out-of-fold probabilities give the
conformal quantiles (or the uncertainty cut-off), and the model refit on the outer-training rows
scores the outer-test rows, where the rule is judged. The counts are pooled over every outer
fold. Rules:

- ``none``: the operating rule alone (threshold 0.5), nothing referred.
- ``mondrian a=...``: Mondrian split-conformal sets at a fixed alpha; refer unless the set is a
  single class that agrees with the threshold-0.5 prediction (domain/conformal.py).
- ``mondrian budget 5%``: alpha chosen per outer fold by ``choose_alpha`` (smallest alpha whose
  out-of-fold refer rate is <= 5%).
- ``marginal a=...`` and ``marginal budget 5%``: the same with one quantile shared by both
  classes (split-conformal with marginal coverage): its two-class sets are a band around 0.5.
- ``least certain k%``: refer the cases whose ``|p - 0.5|`` is below the k-th percentile of
  ``|p - 0.5|`` on the out-of-fold predictions; decide the rest at 0.5. It has no coverage
  guarantee; its "set" is the predicted class, or both classes when referred.

The goal of issue #12: refer <= 5% of cases, accuracy >= 0.99 and malignant recall >= 0.98 on
the decided cases.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold, cross_val_predict

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain import conformal
from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.settings import BUNDLED_DATA

THRESHOLD = 0.5
GOAL = {"refer": 0.05, "accuracy": 0.99, "recall": 0.98}

#: (y_oof, p_oof, p_test) -> (decided, said malignant, sets (n, 2), alpha or NaN)
Rule = Callable[
    [NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]],
    tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_], float],
]


@dataclass
class Tally:
    n: int = 0
    referred: int = 0
    benign: int = 0
    benign_covered: int = 0
    malignant: int = 0
    malignant_covered: int = 0
    decided_correct: int = 0
    decided_malignant: int = 0
    decided_malignant_found: int = 0
    said_malignant: int = 0
    alphas: list[float] = field(default_factory=list)

    def add(
        self,
        y: NDArray[np.int64],
        decided: NDArray[np.bool_],
        said_malignant: NDArray[np.bool_],
        sets: NDArray[np.bool_],
        alpha: float,
    ) -> None:
        m = y == 1
        self.n += y.size
        self.referred += int((~decided).sum())
        self.benign += int((~m).sum())
        self.benign_covered += int(sets[~m, 0].sum())
        self.malignant += int(m.sum())
        self.malignant_covered += int(sets[m, 1].sum())
        self.decided_correct += int((decided & (said_malignant == m)).sum())
        self.decided_malignant += int((decided & m).sum())
        self.decided_malignant_found += int((decided & m & said_malignant).sum())
        self.said_malignant += int((decided & said_malignant).sum())
        self.alphas.append(alpha)


def conformal_rule(alpha: float | None, method: conformal.Method = conformal.MONDRIAN) -> Rule:
    def rule(
        y_oof: NDArray[np.int64], p_oof: NDArray[np.float64], p_test: NDArray[np.float64]
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_], float]:
        if alpha is None:
            pred_oof = (p_oof >= THRESHOLD).astype(np.int64)
            params = conformal.choose_alpha(y_oof, p_oof, prediction=pred_oof, method=method).params
        else:
            params = conformal.fit(y_oof, p_oof, alpha, method=method)
        pred = (p_test >= THRESHOLD).astype(np.int64)
        decisions = conformal.decide(params, p_test, prediction=pred)
        sets = conformal.prediction_sets(params, p_test)
        return (
            decisions != conformal.REFER,
            decisions == conformal.DECIDE_MALIGNANT,
            sets,
            params.alpha,
        )

    return rule


def least_certain_rule(share: float) -> Rule:
    def rule(
        y_oof: NDArray[np.int64], p_oof: NDArray[np.float64], p_test: NDArray[np.float64]
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_], float]:
        cutoff = np.quantile(np.abs(p_oof - THRESHOLD), share) if share > 0 else -1.0
        decided = np.abs(p_test - THRESHOLD) > cutoff
        said = p_test >= THRESHOLD
        sets = np.column_stack([~said | ~decided, said | ~decided])
        return decided, said, sets, float("nan")

    return rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="logreg")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    data = load_dataset(BUNDLED_DATA)
    rules: dict[str, Rule] = {"none (threshold 0.5)": least_certain_rule(0.0)}
    for alpha in (0.01, 0.02, 0.03, 0.05, 0.10):
        rules[f"mondrian a={alpha:.2f}"] = conformal_rule(alpha)
    rules["mondrian budget 5%"] = conformal_rule(None)
    for alpha in (0.01, 0.02, 0.03):
        rules[f"marginal a={alpha:.2f}"] = conformal_rule(alpha, conformal.MARGINAL)
    rules["marginal budget 5%"] = conformal_rule(None, conformal.MARGINAL)
    for share in (0.025, 0.05, 0.10):
        rules[f"least certain {share:.1%}"] = least_certain_rule(share)
    tallies = {name: Tally() for name in rules}
    outer = RepeatedStratifiedKFold(n_splits=args.folds, n_repeats=args.repeats, random_state=0)
    for i, (train, test) in enumerate(outer.split(data.X, data.y)):
        model = build_pipeline(args.model, i)
        inner = StratifiedKFold(5, shuffle=True, random_state=i)
        p_oof = cross_val_predict(
            model, data.X[train], data.y[train], cv=inner, method="predict_proba"
        )[:, 1]
        p_test = model.fit(data.X[train], data.y[train]).predict_proba(data.X[test])[:, 1]
        for name, rule in rules.items():
            decided, said, sets, alpha = rule(data.y[train], p_oof, p_test)
            tallies[name].add(data.y[test], decided, said, sets, alpha)

    print(
        f"{args.model}: {args.repeats} x {args.folds}-fold CV of the bundled data "
        f"({data.n_rows} cases); each rule fitted on the outer-training rows only\n"
    )
    header = (
        "| rule | alpha (mean) | refer rate | coverage benign | coverage malignant "
        "| decided accuracy | decided recall | decided precision | errors per pass | goal |"
    )
    print(header)
    print("|" + "---|" * 10)
    for name, t in tallies.items():
        n_decided = t.n - t.referred
        accuracy = t.decided_correct / n_decided
        recall = t.decided_malignant_found / t.decided_malignant
        precision = t.decided_malignant_found / t.said_malignant
        refer = t.referred / t.n
        errors = (n_decided - t.decided_correct) / args.repeats
        meets = refer <= GOAL["refer"] and accuracy >= GOAL["accuracy"] and recall >= GOAL["recall"]
        fixed = not np.all(np.isnan(t.alphas))
        mean_alpha = f"{float(np.nanmean(t.alphas)):.3f}" if fixed else "-"
        print(
            f"| {name} | {mean_alpha} | {refer:.3f} "
            f"| {t.benign_covered / t.benign:.3f} | {t.malignant_covered / t.malignant:.3f} "
            f"| {accuracy:.4f} | {recall:.4f} | {precision:.4f} | {errors:.1f} "
            f"| {'yes' if meets else 'no'} |"
        )


if __name__ == "__main__":
    main()
