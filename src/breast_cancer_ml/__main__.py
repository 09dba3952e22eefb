"""``python -m breast_cancer_ml`` is the same as the ``bcml`` console script."""

from breast_cancer_ml.cli import run

run()
