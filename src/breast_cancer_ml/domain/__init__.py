"""Pure domain code: feature schema, label encoding, estimators, metrics, promotion rule.

Nothing here imports mlflow, fastapi or does I/O.
"""
