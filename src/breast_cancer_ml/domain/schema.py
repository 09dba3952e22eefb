"""The single source of truth for the dataset's columns and the label encoding.

The positive class is **malignant**. In our data and models ``1`` means malignant and ``0``
benign. (scikit-learn's bundled copy uses the opposite: its target 0 = malignant.)
"""

from __future__ import annotations

from typing import Final

_MEASURES: Final = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal_dimension",
)

#: The 30 feature columns in the Kaggle / WDBC order: 10 means, 10 standard errors, 10 worsts.
FEATURES: Final[tuple[str, ...]] = tuple(
    f"{measure}_{stat}" for stat in ("mean", "se", "worst") for measure in _MEASURES
)
N_FEATURES: Final = len(FEATURES)

ID_COLUMN: Final = "id"
LABEL_COLUMN: Final = "diagnosis"

MALIGNANT: Final = 1
BENIGN: Final = 0
POSITIVE_CLASS: Final = MALIGNANT

#: Diagnosis letter in the CSV -> encoded label.
LABEL_ENCODING: Final[dict[str, int]] = {"M": MALIGNANT, "B": BENIGN}
#: Encoded label -> human-readable name, as shown in reports and API answers.
CLASS_NAMES: Final[dict[int, str]] = {BENIGN: "Benign", MALIGNANT: "Malignant"}
