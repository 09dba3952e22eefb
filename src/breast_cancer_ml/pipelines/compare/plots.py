"""The comparison's figures: ROC and precision-recall curves, and the per-fold recall."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.pipelines.compare.results import ModelResult


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(results: Mapping[str, ModelResult], y: NDArray[np.int64], path: Path) -> None:
    """ROC and precision-recall curves of the first repeat's out-of-fold predictions (every
    training row once, each predicted by a model that never saw it)."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    plt = _pyplot()
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(12, 5.2), dpi=100)
    for name, r in results.items():
        first = [o for o in r.outcomes if o.repeat == 0]
        idx = np.concatenate([o.test_idx for o in first])
        proba = np.concatenate([o.proba for o in first])
        fpr, tpr, _ = roc_curve(y[idx], proba)
        ax_roc.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.4f})")
        precision, recall, _ = precision_recall_curve(y[idx], proba)
        ax_pr.plot(recall, precision, label=f"{name} (AP {r.summary['pr_auc_mean']:.4f})")
    # All good models hug the corner: zoom into the region where they differ.
    ax_roc.set(xlabel="False positive rate (1 - specificity)", ylabel="Recall (malignant)")
    ax_roc.set(xlim=(-0.005, 0.3), ylim=(0.7, 1.005))
    ax_roc.set_title("ROC, out-of-fold predictions (repeat 1; zoomed)")
    ax_pr.set(xlabel="Recall (malignant)", ylabel="Precision (malignant)")
    ax_pr.set(xlim=(0.7, 1.005), ylim=(0.5, 1.005))
    ax_pr.set_title("Precision-recall, out-of-fold predictions (repeat 1; zoomed)")
    for ax in (ax_roc, ax_pr):
        ax.legend(loc="lower right" if ax is ax_roc else "lower left", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_recall(results: Mapping[str, ModelResult], path: Path) -> None:
    """Per-fold malignant recall of every model: box plot with every fold as a dot."""
    plt = _pyplot()
    names = list(results)
    data = [[o.metrics["recall"] for o in results[n].outcomes] for n in names]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(names)), 4.8), dpi=100)
    ax.boxplot(data, showmeans=True, showfliers=False)  # every fold is drawn as a dot
    ax.set_xticks(range(1, len(names) + 1), labels=names)
    rng = np.random.default_rng(0)
    for i, values in enumerate(data, start=1):
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(values)), values, s=10, alpha=0.5)
    ax.set_ylabel("Recall (malignant), per outer fold")
    ax.set_title(f"Per-fold recall ({len(data[0])} outer folds per model)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
