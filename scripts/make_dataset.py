"""Write the bundled WDBC CSV (Kaggle layout) from the copy scikit-learn ships.

Run once; the output is committed as ``src/breast_cancer_ml/data/wdbc.csv``. No network is used.

scikit-learn's copy has no patient ids and encodes the target as 0 = malignant, 1 = benign.
The Kaggle layout has ``id``, ``diagnosis`` (``M``/``B``) and 30 features named ``radius_mean``,
..., ``concave points_mean`` (with a space), ..., ``fractal_dimension_worst``. Rows keep
scikit-learn's order (the original WDBC order), and ``id`` is the 1-based row number because the
original ids are not in scikit-learn's copy. Values are copied as text, so nothing is re-rounded.

    python scripts/make_dataset.py [OUTPUT]
"""

from __future__ import annotations

import csv
import importlib.resources
import sys
from pathlib import Path

_STATS = {"mean": "mean", "error": "se", "worst": "worst"}


def kaggle_name(sklearn_name: str) -> str:
    """'mean concave points' -> 'concave points_mean'; 'radius error' -> 'radius_se'."""
    words = sklearn_name.split()
    if words[0] in ("mean", "worst"):
        stat, base = words[0], words[1:]
    else:
        stat, base = words[-1], words[:-1]
    measure = " ".join(base)
    if measure != "concave points":  # Kaggle keeps the space only in 'concave points'
        measure = measure.replace(" ", "_")
    return f"{measure}_{_STATS[stat]}"


def main(argv: list[str]) -> int:
    from sklearn.datasets import load_breast_cancer

    out = Path(argv[0]) if argv else Path("src/breast_cancer_ml/data/wdbc.csv")
    names = [kaggle_name(str(n)) for n in load_breast_cancer().feature_names]
    raw = (importlib.resources.files("sklearn.datasets") / "data" / "breast_cancer.csv").read_text()
    rows = list(csv.reader(raw.splitlines()))[1:]  # first line: "569,30,malignant,benign"
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "diagnosis", *names])
        for i, row in enumerate(rows, start=1):
            *values, target = row
            writer.writerow([i, "M" if target == "0" else "B", *values])
    print(f"wrote {len(rows)} rows to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
