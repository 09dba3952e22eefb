"""The prediction service (FastAPI): ``create_app`` in :mod:`.app`, ``bcml serve`` in
:mod:`.server`. Needs the ``serve`` extra; never imports mlflow, pandas or matplotlib."""
