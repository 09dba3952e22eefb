"""``python -m breast_cancer_ml.deploy ...`` is ``bcml deploy ...``."""

import sys

from breast_cancer_ml.cli import main

sys.exit(main(["deploy", *sys.argv[1:]]))
