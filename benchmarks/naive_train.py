"""The straightforward training script `bcml train` is measured against (see bench_train.py).

It does the same steps the way a tutorial does them: pandas, cross_validate with four scorers,
fit, test metrics, a confusion-matrix plot, a classification report, MLflow params/metrics/
artifacts, `mlflow.sklearn.log_model` with a signature and input example (requirements inferred,
MLflow's default), registration and the champion alias. Not part of the package.

    python benchmarks/naive_train.py DATA_CSV OUTPUT_DIR
"""

import json
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import mlflow.sklearn
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    classification_report,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

data_path, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
df = pd.read_csv(data_path)
df = df.loc[:, ~df.columns.str.startswith("Unnamed")]
X = df.drop(columns=["id", "diagnosis"])
y = (df["diagnosis"] == "M").astype(int)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=42
)
pipe = Pipeline(
    [("scaler", StandardScaler()), ("clf", LogisticRegression(max_iter=1000, random_state=42))]
)
cv = cross_validate(
    pipe,
    X_train,
    y_train,
    cv=StratifiedKFold(n_splits=10, shuffle=True, random_state=42),
    scoring=["accuracy", "precision", "recall", "f1"],
)
pipe.fit(X_train, y_train)
pred = pipe.predict(X_test)
proba = pipe.predict_proba(X_test)[:, 1]

mlflow.set_experiment("naive-benchmark")
with mlflow.start_run() as run:
    mlflow.log_params({f"lr_{k}": v for k, v in pipe.named_steps["clf"].get_params().items()})
    mlflow.log_params({"model_type": "LogisticRegression", "k_folds": 10})
    for m in ("accuracy", "precision", "recall", "f1"):
        mlflow.log_metric(f"cv_{m}_mean", cv[f"test_{m}"].mean())
        mlflow.log_metric(f"cv_{m}_std", cv[f"test_{m}"].std(ddof=1))
    mlflow.log_metric("test_accuracy", accuracy_score(y_test, pred))
    mlflow.log_metric("test_precision", precision_score(y_test, pred))
    mlflow.log_metric("test_recall", recall_score(y_test, pred))
    mlflow.log_metric("test_f1", f1_score(y_test, pred))
    mlflow.log_metric("test_roc_auc", roc_auc_score(y_test, proba))
    with tempfile.TemporaryDirectory() as tmp:
        ConfusionMatrixDisplay.from_predictions(
            y_test, pred, display_labels=["Benign", "Malignant"]
        )
        plt.savefig(Path(tmp) / "confusion_matrix.png")
        (Path(tmp) / "classification_report.txt").write_text(classification_report(y_test, pred))
        (Path(tmp) / "run_summary.json").write_text(json.dumps({"run_id": run.info.run_id}))
        mlflow.log_artifacts(tmp)
    info = mlflow.sklearn.log_model(
        pipe,
        name="model",
        signature=infer_signature(X_train, pipe.predict(X_train)),
        input_example=X_train.head(5),
    )
    version = mlflow.register_model(info.model_uri, "naive-benchmark")
    mlflow.MlflowClient().set_registered_model_alias("naive-benchmark", "champion", version.version)
    mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(out_dir / run.info.run_id))
print(run.info.run_id)
