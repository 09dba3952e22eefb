"""Where champion numbers come from when the champion cannot be read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from breast_cancer_ml.domain.records import ChampionInfo, FoldSpec
from breast_cancer_ml.pipelines.champion import challenge
from breast_cancer_ml.settings import TrainSettings

FOLDS = [{"recall": 0.9, "roc_auc": 0.99}, {"recall": 1.0, "roc_auc": 1.0}]
SPEC = FoldSpec(
    scheme="test", data_version="d", smoke_fraction=1.0, test_size=0.2, seed=42, k_folds=2,
    repeats=1, scikit_learn="x",
)  # fmt: skip
X = np.zeros((4, 30))
Y = np.array([0, 1, 0, 1])


def test_no_champion(tmp_path: Path) -> None:
    verdict = challenge(TrainSettings(models_dir=tmp_path), SPEC, FOLDS, X, Y)
    assert verdict.replace is True
    assert verdict.reason == "no current champion"
    assert verdict.champion == ChampionInfo(present=False)
    assert verdict.challenger is not None
    assert verdict.challenger.fold_recall == [0.9, 1.0]


def test_unreadable_champion_is_replaced_with_the_reason(tmp_path: Path) -> None:
    folder = tmp_path / "history" / "abc"
    folder.mkdir(parents=True)
    (folder / "promotion_metadata.json").write_text("{not json")
    (tmp_path / "latest").symlink_to("history/abc", target_is_directory=True)
    verdict = challenge(TrainSettings(models_dir=tmp_path), SPEC, FOLDS, X, Y)
    assert verdict.replace is True
    assert verdict.champion is not None
    assert verdict.champion.source == "unavailable"
    assert "could not be evaluated" in str(verdict.reason)
    assert "cannot be read as JSON" in str(verdict.reason)
