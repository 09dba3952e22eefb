"""File formats from names, and where the needed columns are in an input's header."""

from __future__ import annotations

import pytest

from breast_cancer_ml.adapters.table_layout import resolve_layout, table_format
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.errors import ConfigError, DataValidationError


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.csv", "csv"), ("A.CSV.GZ", "csv"), ("x.parquet", "parquet"), ("x.pq", "parquet")],
)
def test_table_format_from_extension(name, fmt):
    assert table_format(name) == fmt
    assert table_format("-") == "csv"


def test_unknown_extension_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data\.json: unknown file type"):
        table_format("data.json")


def test_layout_strips_spaces_and_lists_ignored_columns():
    names = ["\ufeffid", " diagnosis", *[f" {c} " for c in reversed(FEATURES)], ""]
    layout = resolve_layout(names, "f.csv")
    assert layout.id == "\ufeffid"
    assert [n.strip() for n in layout.features] == list(FEATURES)
    assert layout.ignored == ("",)


def test_missing_and_duplicate_columns_are_named():
    with pytest.raises(DataValidationError, match=r"f\.csv: missing column\(s\) \['area_se'\]"):
        resolve_layout([c for c in FEATURES if c != "area_se"], "f.csv")
    with pytest.raises(DataValidationError, match="'radius_mean' appears more than once"):
        resolve_layout([*FEATURES, " radius_mean"], "f.csv")
