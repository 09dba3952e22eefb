"""Publishing is atomic, locked, verifiable and reversible; loading trusts only known types."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.domain.records import SCHEMA_VERSION
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.errors import BadMetadataError, ModelIntegrityError, ModelStoreError


@pytest.fixture(scope="module")
def fitted(bundled_csv: Path) -> Any:
    ds = load_dataset(bundled_csv)
    return build_pipeline("logreg", 42).fit(ds.X, ds.y)


@pytest.fixture
def model_dir(tmp_path: Path, fitted: Any) -> Path:
    import skops.io as sio

    d = tmp_path / "src-model"
    d.mkdir()
    sio.dump(fitted, d / "model.skops")
    (d / "MLmodel").write_text("flavors: {}\n")
    return d


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    p = tmp_path / "run_summary.json"
    p.write_text('{"ok": true}')
    return p


ENVELOPE = Envelope.from_training(np.vstack([np.zeros(30), np.full(30, 10.0)])).as_dict()


def meta(run_id: str, when: str = "2026-01-01T00:00:00+00:00") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "promoted_at": when,
        "threshold": 0.5,
        "feature_names": list(FEATURES),
        "envelope": ENVELOPE,
    }


def test_publish_creates_history_and_points_latest(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    models = tmp_path / "models"
    final = model_store.publish(models, "run1", model_dir, [artifact], meta("run1"))
    assert final == models / "history" / "run1"
    latest = models / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == final.resolve()
    assert (latest / "run_summary.json").read_text() == '{"ok": true}'
    metadata = json.loads((latest / "promotion_metadata.json").read_text())
    assert metadata["run_id"] == "run1"
    assert set(metadata["model_sha256"]) == {"MLmodel", "model.skops"}
    assert metadata["model_sha256"]["model.skops"] == model_store.sha256_file(
        model_dir / "model.skops"
    )
    assert not list((models / "history").glob(".staging-*"))


def test_second_publish_keeps_the_first_for_rollback(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    models = tmp_path / "models"
    model_store.publish(models, "run1", model_dir, [artifact], meta("run1", "2026-01-01"))
    model_store.publish(models, "run2", model_dir, [artifact], meta("run2", "2026-01-02"))
    assert model_store.resolve_latest(models).name == "run2"
    assert (models / "history" / "run1" / "promotion_metadata.json").is_file()
    assert model_store.rollback(models).target.run_id == "run1"
    assert model_store.resolve_latest(models).name == "run1"
    assert model_store.rollback(models, "run2").target.run_id == "run2"
    with pytest.raises(ModelStoreError, match="no promoted model with run id nope"):
        model_store.rollback(models, "nope")


def test_rollback_without_history_is_a_clear_error(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    models = tmp_path / "models"
    model_store.publish(models, "run1", model_dir, [artifact], meta("run1"))
    with pytest.raises(ModelStoreError, match="no model was promoted before the current one"):
        model_store.rollback(models)


def test_rollback_of_an_empty_store_says_to_train_first(tmp_path: Path) -> None:
    with pytest.raises(ModelStoreError, match="no promoted model yet"):
        model_store.rollback(tmp_path / "models")


def test_rollback_twice_goes_back_twice(tmp_path: Path, model_dir: Path) -> None:
    """C -> B -> A: the default target was promoted before the current model, not merely
    "the newest that is not current" (which went C -> B -> C)."""
    models = tmp_path / "models"
    for run, day in (("A", "01"), ("B", "02"), ("C", "03")):
        model_store.publish(models, run, model_dir, [], meta(run, f"2026-01-{day}T00:00:00+00:00"))
    first = model_store.rollback(models)
    assert (first.previous and first.previous.run_id, first.target.run_id) == ("C", "B")
    second = model_store.rollback(models)
    assert (second.previous and second.previous.run_id, second.target.run_id) == ("B", "A")
    assert second.target.promoted_at == "2026-01-01T00:00:00+00:00"
    with pytest.raises(ModelStoreError, match="promoted 2026-01-01"):
        model_store.rollback(models)  # A is the oldest: nothing before it
    assert model_store.latest_run_id(models) == "A"


def test_history_lists_newest_first_and_marks_the_current_one(
    tmp_path: Path, model_dir: Path
) -> None:
    models = tmp_path / "models"
    assert model_store.promoted_history(models) == []
    # published out of time order: the listing sorts by promotion time, not by name or mtime
    for run, day in (("B", "02"), ("C", "03"), ("A", "01")):
        model_store.publish(models, run, model_dir, [], meta(run, f"2026-01-{day}T00:00:00+00:00"))
    entries = model_store.promoted_history(models)
    assert [e.run_id for e in entries] == ["C", "B", "A"]
    assert [e.current for e in entries] == [False, False, True]
    # the current model is A, the oldest: nothing was promoted before it
    assert model_store.previous_model(entries) is None


def test_same_run_cannot_be_published_twice(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    models = tmp_path / "models"
    model_store.publish(models, "run1", model_dir, [artifact], meta("run1"))
    with pytest.raises(ModelStoreError, match="published before"):
        model_store.publish(models, "run1", model_dir, [artifact], meta("run1"))


def test_crash_before_the_swap_leaves_latest_on_the_old_model(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    models = tmp_path / "models"
    model_store.publish(models, "old", model_dir, [artifact], meta("old"))

    def crash(_: Path) -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        model_store.publish(models, "new", model_dir, [artifact], meta("new"), before_swap=crash)
    assert model_store.resolve_latest(models).name == "old"
    model_store.verify(model_store.resolve_latest(models))  # whole and unchanged


def test_failure_while_copying_leaves_no_staging_and_latest_untouched(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    models = tmp_path / "models"
    model_store.publish(models, "old", model_dir, [artifact], meta("old"))
    with pytest.raises(FileNotFoundError):
        model_store.publish(models, "new", model_dir, [tmp_path / "missing.png"], meta("new"))
    assert model_store.resolve_latest(models).name == "old"
    assert not list((models / "history").glob(".staging-*"))
    assert not (models / "history" / "new").exists()


def test_killed_publisher_never_leaves_a_half_written_latest(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    """A real process is SIGKILLed in the middle of a publish (after the copy, before the swap)."""
    models = tmp_path / "models"
    model_store.publish(models, "old", model_dir, [artifact], meta("old"))
    marker = tmp_path / "in-publish"
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from breast_cancer_ml.adapters import model_store
        def stall(_):
            Path({str(marker)!r}).write_text("x")
            time.sleep(60)
        model_store.publish(Path({str(models)!r}), "new", Path({str(model_dir)!r}),
                            [Path({str(artifact)!r})], {{"run_id": "new"}}, before_swap=stall)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None, "publisher exited early"
            assert time.monotonic() < deadline, "publisher never reached the swap"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert model_store.resolve_latest(models).name == "old"
    model_store.verify(models / "latest")
    # The next publisher is not blocked by the dead one's lock and completes.
    model_store.publish(models, "newer", model_dir, [artifact], meta("newer"))
    assert model_store.resolve_latest(models).name == "newer"


def test_concurrent_publishers_are_serialised(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    models = tmp_path / "models"
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            model_store.publish(models, f"run{i}", model_dir, [artifact], meta(f"run{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(6):
        model_store.verify(models / "history" / f"run{i}")
    assert model_store.resolve_latest(models).name.startswith("run")


def test_readers_see_a_whole_model_during_repeated_swaps(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    models = tmp_path / "models"
    model_store.publish(models, "run0", model_dir, [artifact], meta("run0"))
    stop = threading.Event()
    seen: set[str] = set()
    failures: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                folder = model_store.resolve_latest(models)
                seen.add(model_store.verify(folder)["run_id"])
            except Exception as exc:  # pragma: no cover - the assertion reports it
                failures.append(repr(exc))

    t = threading.Thread(target=reader)
    t.start()
    for i in range(1, 15):
        model_store.publish(models, f"run{i}", model_dir, [artifact], meta(f"run{i}"))
    stop.set()
    t.join()
    assert failures == []
    assert len(seen) > 1


def test_verify_detects_tampering_missing_and_extra_files(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    models = tmp_path / "models"
    final = model_store.publish(models, "run1", model_dir, [artifact], meta("run1"))
    skops_file = final / "model" / "model.skops"
    data = bytearray(skops_file.read_bytes())
    data[100] ^= 0xFF
    skops_file.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"modified \['model.skops'\]"):
        model_store.verify(final)
    skops_file.unlink()
    with pytest.raises(ModelIntegrityError, match=r"missing \['model.skops'\]"):
        model_store.verify(final)
    (final / "model" / "evil.pkl").write_bytes(b"x")
    with pytest.raises(ModelIntegrityError, match=r"unexpected \['evil.pkl'\]"):
        model_store.verify(final)


def test_no_model_yet_and_non_symlink_latest(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    models = tmp_path / "models"
    with pytest.raises(ModelStoreError, match="no model has been promoted yet"):
        model_store.resolve_latest(models)
    (models / "latest").mkdir(parents=True)
    with pytest.raises(ModelStoreError, match="is a real folder"):
        model_store.publish(models, "run1", model_dir, [artifact], meta("run1"))


def test_load_published_scores_like_the_pipeline(
    tmp_path: Path, model_dir: Path, artifact: Path, fitted: Any, bundled_csv: Path
) -> None:
    models = tmp_path / "models"
    model_store.publish(models, "run1", model_dir, [artifact], meta("run1"))
    loaded = model_store.load_latest(models)
    X = load_dataset(bundled_csv).X
    np.testing.assert_allclose(loaded.proba(X), fitted.predict_proba(X)[:, 1], rtol=0, atol=1e-12)
    assert loaded.run_id == "run1"
    assert loaded.threshold == 0.5


def test_load_refuses_types_outside_the_allowlist(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, Normalizer

    path = tmp_path / "model.skops"
    # skops itself trusts every scikit-learn estimator; we do not.
    sio.dump(make_pipeline(Normalizer()), path)
    with pytest.raises(ModelIntegrityError, match=r"not trusted.*Normalizer"):
        model_store.load_skops(path)
    # FunctionTransformer is trusted (svm_log's log1p step), but not with any function:
    # only numpy ufuncs, which skops trusts by default, load.
    sio.dump(FunctionTransformer(func=print), path)
    with pytest.raises(ModelIntegrityError, match=r"not trusted: \['builtins.print'\]"):
        model_store.load_skops(path)
    sio.dump(make_pipeline(FunctionTransformer(func=np.save)), path)
    with pytest.raises(ModelIntegrityError, match=r"not trusted: \['numpy.save'\]"):
        model_store.load_skops(path)
    sio.dump(make_pipeline(FunctionTransformer(func=np.log1p)), path)
    assert model_store.load_skops(path).steps[0][1].func is np.log1p


def test_every_scikit_learn_object_is_found_at_any_depth_of_a_model() -> None:
    """The allowlist check sees estimators skops trusts by default wherever they sit: a step,
    a calibrated estimator's fitted copies, a dict value or key, an object array, a cycle."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.arange(40) % 2
    model = make_pipeline(StandardScaler(), CalibratedClassifierCV(GaussianNB(), cv=2)).fit(X, y)
    found = model_store.sklearn_types_in(model)
    assert "sklearn.naive_bayes.GaussianNB" in found
    assert "sklearn.calibration._CalibratedClassifier" in found
    assert found - model_store.TRUSTED_TYPES == {"sklearn.naive_bayes.GaussianNB"}

    hidden = np.empty(1, dtype=object)
    hidden[0] = DecisionTreeClassifier()
    holder = make_pipeline(StandardScaler())
    holder.extra_ = {"a": hidden, GaussianNB(): 1}  # an attribute skops would restore
    holder.extra_["self"] = holder  # a cycle is visited once
    assert model_store.sklearn_types_in(holder) == {
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.naive_bayes.GaussianNB",
    }


def test_training_refuses_before_logging_a_model_it_could_never_load() -> None:
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    ours = build_pipeline("decision_tree", 0).fit(X, y)
    assert model_store.trusted_types_for(ours) == ["sklearn.tree._tree.Tree"]
    foreign = make_pipeline(StandardScaler(), GaussianNB()).fit(X, y)  # skops trusts GaussianNB
    with pytest.raises(ModelIntegrityError, match=r"outside .*TRUSTED_TYPES: \['sklearn\.naive"):
        model_store.trusted_types_for(foreign)


def test_load_refuses_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ModelIntegrityError, match="cannot be loaded as a skops model"):
        model_store.load_skops(path)


def test_publish_refuses_when_the_champion_changed_meanwhile(
    tmp_path: Path, model_dir: Path, artifact: Path
) -> None:
    from breast_cancer_ml.errors import ChampionChangedError

    models = tmp_path / "models"
    # compared with "no model yet", but run1 was promoted meanwhile
    model_store.publish(models, "run1", model_dir, [artifact], meta("run1"), expected_latest=None)
    with pytest.raises(ChampionChangedError, match="compared itself with no model"):
        model_store.publish(
            models, "run2", model_dir, [artifact], meta("run2"), expected_latest=None
        )
    assert model_store.latest_run_id(models) == "run1"
    assert not (models / "history" / "run2").exists()
    with pytest.raises(ChampionChangedError, match="champion is now run1"):
        model_store.publish(
            models, "run2", model_dir, [artifact], meta("run2"), expected_latest="run0"
        )
    model_store.publish(models, "run2", model_dir, [artifact], meta("run2"), expected_latest="run1")
    assert model_store.latest_run_id(models) == "run2"


def test_check_logged_model_accepts_the_same_model(
    fitted: Any, tmp_path: Path, bundled_csv: Path
) -> None:
    import skops.io as sio

    sio.dump(fitted, tmp_path / model_store.SKOPS_FILE)
    model_store.check_logged_model(tmp_path, fitted, load_dataset(bundled_csv).X[:2])


def test_check_logged_model_refuses_a_model_that_scores_differently(
    fitted: Any, tmp_path: Path, bundled_csv: Path
) -> None:
    import skops.io as sio

    data = load_dataset(bundled_csv)
    other = build_pipeline("logreg", 42).fit(data.X[:300], data.y[:300])
    sio.dump(other, tmp_path / model_store.SKOPS_FILE)
    with pytest.raises(ModelIntegrityError, match="differ from the fitted model"):
        model_store.check_logged_model(tmp_path, fitted, data.X[:2])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": None}, "threshold"),
        ({"threshold": "0.5"}, "threshold"),
        ({"envelope": None}, "envelope"),
        ({"envelope": {"margin": 0.1, "bounds": {"radius_mean": [0, 1]}}}, "envelope"),
        ({"feature_names": list(reversed(FEATURES))}, "feature_names"),
        ({"run_id": ""}, "run_id"),
    ],
)
def test_load_refuses_metadata_that_breaks_its_schema(
    tmp_path: Path, model_dir: Path, change: dict[str, Any], field: str
) -> None:
    """A threshold that is not a finite number in (0, 1], a malformed envelope or another
    feature order refuses the model, with the reason code bad_metadata and the field named."""
    models = tmp_path / "models"
    model_store.publish(models, "run1", model_dir, [], meta("run1") | change)
    with pytest.raises(BadMetadataError, match=rf"not valid \({field}") as info:
        model_store.load_latest(models)
    assert info.value.reason == "bad_metadata"
    assert info.value.exit_code == 4


def test_metadata_that_is_not_an_object_is_bad_metadata(tmp_path: Path, model_dir: Path) -> None:
    models = tmp_path / "models"
    final = model_store.publish(models, "run1", model_dir, [], meta("run1"))
    (final / model_store.METADATA_FILE).write_text("[1, 2]")
    model_store.seal_metadata(final)  # as if published so: the seal is not what is under test
    with pytest.raises(BadMetadataError, match="not an object"):
        model_store.load_latest(models)


def test_published_folder_has_a_metadata_sidecar_in_sha256sum_format(
    tmp_path: Path, model_dir: Path
) -> None:
    final = model_store.publish(tmp_path / "models", "run1", model_dir, [], meta("run1"))
    digest = model_store.sha256_file(final / model_store.METADATA_FILE)
    sidecar = final / model_store.METADATA_SIDECAR
    assert sidecar.read_text() == f"{digest}  promotion_metadata.json\n"
    assert model_store.recorded_metadata_sha256(final) == digest


def test_an_edited_threshold_is_refused_as_hash_mismatch(tmp_path: Path, model_dir: Path) -> None:
    """Valid by the schema, but not what was promoted: the sidecar catches it."""
    models = tmp_path / "models"
    final = model_store.publish(models, "run1", model_dir, [], meta("run1"))
    path = final / model_store.METADATA_FILE
    path.write_text(path.read_text().replace('"threshold": 0.5', '"threshold": 0.05'))
    assert json.loads(path.read_text())["threshold"] == 0.05
    with pytest.raises(ModelIntegrityError, match="modified after promotion") as info:
        model_store.load_latest(models)
    assert info.value.reason == "hash_mismatch"
    with pytest.raises(ModelIntegrityError, match="modified after promotion"):
        model_store.verify(final)


@pytest.mark.parametrize("sidecar", [None, "", "abc  promotion_metadata.json\n"])
def test_a_missing_or_malformed_sidecar_is_bad_metadata(
    tmp_path: Path, model_dir: Path, sidecar: str | None
) -> None:
    models = tmp_path / "models"
    final = model_store.publish(models, "run1", model_dir, [], meta("run1"))
    path = final / model_store.METADATA_SIDECAR
    if sidecar is None:
        path.unlink()
    else:
        path.write_text(sidecar)
    with pytest.raises(BadMetadataError, match=r"promotion_metadata\.sha256") as info:
        model_store.load_latest(models)
    assert info.value.reason == "bad_metadata"


def test_rollback_refuses_a_target_whose_metadata_was_edited(
    tmp_path: Path, model_dir: Path
) -> None:
    models = tmp_path / "models"
    first = model_store.publish(models, "run1", model_dir, [], meta("run1", "2026-01-01"))
    model_store.publish(models, "run2", model_dir, [], meta("run2", "2026-01-02"))
    path = first / model_store.METADATA_FILE
    path.write_text(path.read_text().replace('"threshold": 0.5', '"threshold": 0.9'))
    with pytest.raises(ModelIntegrityError, match="modified after promotion"):
        model_store.rollback(models)
    assert model_store.latest_run_id(models) == "run2"


def test_a_loaded_model_carries_its_envelope(tmp_path: Path, model_dir: Path) -> None:
    models = tmp_path / "models"
    model_store.publish(models, "run1", model_dir, [], meta("run1"))
    loaded = model_store.load_latest(models)
    assert loaded.envelope == Envelope.from_dict(ENVELOPE)
    assert loaded.registry_version is None


def test_metadata_from_a_newer_bcml_refuses_the_model_as_bad_metadata(
    tmp_path: Path, model_dir: Path
) -> None:
    models = tmp_path / "models"
    model_store.publish(
        models, "run1", model_dir, [], meta("run1") | {"schema_version": SCHEMA_VERSION + 1}
    )
    with pytest.raises(BadMetadataError, match="written by a newer bcml") as info:
        model_store.load_latest(models)
    assert info.value.reason == "bad_metadata"
    assert info.value.exit_code == 4
