"""How much does one 80/20 test split's malignant recall vary with the seed? (docs/training.md)

.venv/bin/python scripts/split_noise.py [--seeds 200] [--model logreg]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.model_selection import train_test_split

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.settings import BUNDLED_DATA


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--model", default="logreg")
    args = parser.parse_args()
    data = load_dataset(BUNDLED_DATA)
    recalls = []
    for seed in range(args.seeds):
        X_tr, X_te, y_tr, y_te = train_test_split(
            data.X, data.y, test_size=0.2, stratify=data.y, random_state=seed
        )
        pred = build_pipeline(args.model, seed).fit(X_tr, y_tr).predict(X_te)
        recalls.append(np.sum((pred == 1) & (y_te == 1)) / np.sum(y_te == 1))
    r = np.array(recalls)
    n_malignant = int(np.sum(data.y) * 0.2 + 0.5)
    print(f"{args.model}: {args.seeds} seeds, {n_malignant} malignant per test split")
    print(f"test recall mean {r.mean():.4f}, min {r.min():.4f}, max {r.max():.4f}")
    print(f"share of seeds with test recall >= 0.95: {np.mean(r >= 0.95):.2f}")


if __name__ == "__main__":
    main()
