"""confidence_index (the batch path) reads a probability exactly as confidence (one case) does."""

from __future__ import annotations

import numpy as np

from breast_cancer_ml.domain.scoring import CONFIDENCE_LEVELS, confidence, confidence_index


def test_a_float32_probability_gets_the_confidence_of_its_exact_value() -> None:
    """float32(0.2) is 0.2000000030: just above the "high" cut-off 0.2, so "medium" for one
    case; the batch must not round the cut-off to float32 and call it "high"."""
    p = np.array([0.2, 0.8, 0.4, 0.6], dtype=np.float32)
    batch = [CONFIDENCE_LEVELS[i] for i in confidence_index(p, np.ones(4, dtype=bool))]
    assert batch == [confidence(float(x)) for x in p]
    assert batch[0] == "medium"
