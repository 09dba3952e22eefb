from __future__ import annotations

from breast_cancer_ml.domain import schema


def test_malignant_is_the_positive_class_encoded_as_one() -> None:
    assert schema.LABEL_ENCODING == {"M": 1, "B": 0}
    assert schema.MALIGNANT == schema.POSITIVE_CLASS == 1
    assert schema.BENIGN == 0


def test_class_names_follow_the_encoding() -> None:
    assert schema.CLASS_NAMES == {1: "Malignant", 0: "Benign"}


def test_features_are_the_30_kaggle_names_in_wdbc_order() -> None:
    assert schema.N_FEATURES == 30
    assert len(set(schema.FEATURES)) == 30
    assert schema.FEATURES[0] == "radius_mean"
    assert schema.FEATURES[7] == "concave points_mean"
    assert schema.FEATURES[10] == "radius_se"
    assert schema.FEATURES[-1] == "fractal_dimension_worst"
    assert [f.rsplit("_", 1)[1] for f in schema.FEATURES] == ["mean"] * 10 + ["se"] * 10 + [
        "worst"
    ] * 10
