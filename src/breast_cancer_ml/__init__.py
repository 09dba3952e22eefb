"""breast-cancer-ml: gated, MLflow-tracked training and serving for the WDBC diagnosis data."""

__version__ = "0.1.0"
