"""``bcml compare``: every candidate on the same repeated stratified folds of the training split.

One parent MLflow run, one child run per model. The parent holds the comparison table
(Markdown and CSV), all models' ROC and precision-recall curves on one figure, and the
per-fold recall distribution; ``--report-file`` also writes the selection report
(``MODEL_SELECTION.md``). The held-out test split is never used here.

:mod:`.run` runs the folds and logs to MLflow, :mod:`.tables` writes the table and CSV files,
:mod:`.plots` the figures, :mod:`.report` renders ``MODEL_SELECTION.md`` from its template;
:mod:`.results` holds what they share.
"""
