"""Settings priority: flags > BCML_* environment > TOML config file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from breast_cancer_ml.errors import ConfigError
from breast_cancer_ml.settings import BUNDLED_DATA, TrainSettings, load_settings


def test_defaults() -> None:
    s = load_settings(TrainSettings)
    assert (s.k_folds, s.seed, s.min_recall, s.max_recall_std) == (10, 42, 0.95, 0.05)
    assert s.data == BUNDLED_DATA
    assert s.models_dir == Path("models")
    assert s.registered_model_name == "breast-cancer-classifier"
    assert s.champion_alias == "champion"
    assert not s.smoke and not s.require_promotion


def test_priority_flags_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bcml.toml"
    config.write_text("k_folds = 7\nseed = 1\nmin_recall = 0.9\n")
    monkeypatch.setenv("BCML_SEED", "2")
    monkeypatch.setenv("BCML_MIN_RECALL", "0.91")
    s = load_settings(TrainSettings, config, min_recall=0.92, seed=None)
    assert s.k_folds == 7  # file
    assert s.seed == 2  # env beats file; a flag left out (None) does not override
    assert s.min_recall == 0.92  # flag beats env


def test_settings_are_frozen() -> None:
    s = load_settings(TrainSettings)
    with pytest.raises(ValueError, match="frozen"):
        s.k_folds = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"k_folds": 1}, "k_folds: Input should be greater than or equal to 2"),
        ({"min_recall": 1.5}, "min_recall: Input should be less than or equal to 1"),
        ({"test_size": 0}, "test_size"),
    ],
)
def test_invalid_flags(overrides: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(TrainSettings, **overrides)


def test_invalid_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCML_K_FOLDS", "ten")
    with pytest.raises(ConfigError, match="k_folds"):
        load_settings(TrainSettings)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(TrainSettings, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("k_folds = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(TrainSettings, bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("kfolds = 3\n")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['kfolds'\]"):
        load_settings(TrainSettings, unknown)


def test_every_command_reads_its_config_file(tmp_path: Path) -> None:
    from breast_cancer_ml.settings import PredictSettings, ServeSettings

    config = tmp_path / "serve.toml"
    config.write_text("port = 9123\nworkers = 2\n")
    serve = load_settings(ServeSettings, config)
    assert (serve.port, serve.workers) == (9123, 2)
    predict = tmp_path / "predict.toml"
    predict.write_text('input = "in.csv"\noutput = "out.csv"\nchunk_size = 100\n')
    assert load_settings(PredictSettings, predict).chunk_size == 100
