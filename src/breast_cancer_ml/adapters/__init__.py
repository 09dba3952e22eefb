"""Adapters to the outside world: data files, MLflow tracking and registry, the model store."""
