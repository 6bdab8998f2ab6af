"""Regression targets in the data layer: task inference, target checks, quantile-stratified splits, the regression
datasets, numeric CSVs with a second rating column, and the CSV shape caps checked before parsing."""

from __future__ import annotations

import numpy as np
import pytest

from alcore.data import (
    DatasetError,
    available,
    default_options,
    infer_task,
    load,
    load_bytes,
    make_splits,
    validate_arrays,
)
from alcore.data import csv_files, csv_limits
from alcore.data.splits import N_QUANTILE_BINS, quantile_bins
from alcore.data.targets import MAX_AMBIGUOUS_VALUES, MAX_AUTO_CLASSES


def continuous(n: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(5.0, 2.0, size=n)


# Task inference


@pytest.mark.parametrize("y", [np.arange(100) % 7, np.array(["a", "b"] * 50), np.arange(100) % 2 == 0,
                               np.arange(100, dtype=np.int64)])
def test_integer_boolean_and_string_labels_are_classification(y):
    assert infer_task(y) == "classification"


def test_whole_numbered_floats_are_classes_up_to_the_auto_class_count():
    whole = np.arange(200, dtype=np.float64)
    assert infer_task(whole % MAX_AUTO_CLASSES) == "classification"  # whole numbers, 50 distinct values
    assert infer_task(whole % (MAX_AUTO_CLASSES + 1)) == "regression"


def test_missing_values_do_not_decide_the_task():
    y = continuous()
    y[:5] = np.nan
    assert infer_task(y) == "regression"
    assert infer_task(np.r_[np.arange(20) % 3, np.nan]) == "classification"


def test_non_integer_floats_are_regression_beyond_a_few_distinct_values():
    assert infer_task(continuous()) == "regression"
    assert infer_task(np.arange(40) % (MAX_AMBIGUOUS_VALUES + 1) + 0.5) == "regression"
    with pytest.raises(DatasetError, match=r"only 10 distinct values.*task='regression'"):
        infer_task(np.arange(40) % MAX_AMBIGUOUS_VALUES + 0.5)  # 0.5, 1.5, ...: classes or a coarse score?


def test_validate_arrays_keeps_a_regression_target_raw_in_float64():
    y = continuous()
    ds = validate_arrays(np.ones((200, 3)), y, "t")
    assert ds.task == "regression" and ds.y.dtype == np.float64
    np.testing.assert_array_equal(ds.y, y)  # not standardised here: the task layer does that on the pool
    assert ds.class_names == () and ds.n_classes == 0 and ds.target_name == "target"
    assert ds.y_target is None and ds.target_y is ds.y
    assert "regression target 'target'" in ds.description


def test_explicit_regression_takes_integer_values_as_numbers():
    ds = validate_arrays(np.ones((20, 2)), np.arange(20) % 4 + 1, "t", task="regression", target_name="stars")
    assert ds.task == "regression" and ds.y.dtype == np.float64 and ds.target_name == "stars"
    np.testing.assert_array_equal(ds.y, np.arange(20) % 4 + 1.0)


@pytest.mark.parametrize("y, message", [
    (np.array(["cat", "dog"] * 10), r"holds strings \(e.g. 'cat'\).*task='classification'"),
    (np.arange(20) % 2 == 0, "boolean.*task='classification'"),
    (np.full(20, 3.5), r"constant \(every row is 3.5\)"),
])
def test_explicit_regression_refuses_what_cannot_be_a_regression_target(y, message):
    with pytest.raises(DatasetError, match=message):
        validate_arrays(np.ones((20, 2)), y, "t", task="regression")


def test_a_continuous_target_as_classification_names_its_distinct_values_and_suggests_regression():
    with pytest.raises(DatasetError, match=r"200 distinct values.*task='regression'"):
        validate_arrays(np.ones((200, 2)), continuous(), "t", task="classification")


def test_explicit_classification_keeps_whole_numbered_floats_with_many_values_as_classes():
    y = np.arange(200, dtype=np.float64) % 60
    assert validate_arrays(np.ones((200, 2)), y, "t", task="classification").n_classes == 60
    assert validate_arrays(np.ones((200, 2)), y, "t").task == "regression"  # auto: more than 50 values


def test_missing_or_infinite_targets_are_refused_naming_the_rows():
    y = continuous()
    y[[3, 7]] = [np.nan, np.inf]
    with pytest.raises(DatasetError, match=r"2 missing or infinite .*row indices from 0: \[3, 7\]"):
        validate_arrays(np.ones((200, 2)), y, "t")
    with pytest.raises(DatasetError, match=r"row indices from 0: \[3, 7\]"):
        validate_arrays(np.ones((200, 2)), y, "t", task="regression")


def test_an_unknown_task_is_refused_naming_the_option_and_the_choices():
    with pytest.raises(DatasetError, match="option task must be one of 'auto', 'classification', 'regression'"):
        validate_arrays(np.ones((20, 2)), np.arange(20) % 2, "t", task="regresion")


def test_class_names_are_refused_for_a_regression_target():
    with pytest.raises(DatasetError, match="class_names only apply to classification"):
        validate_arrays(np.ones((200, 2)), continuous(), "t", class_names=["a", "b"])


# A second rater: y_target


def test_a_regression_y_target_is_checked_and_kept_like_y():
    y, second = continuous(seed=0), continuous(seed=1)
    ds = validate_arrays(np.ones((200, 2)), y, "t", y_target=second)
    np.testing.assert_array_equal(ds.y_target, second)
    assert ds.target_y is ds.y_target
    second[5] = np.nan
    with pytest.raises(DatasetError, match=r"y_target.*row indices from 0: \[5\]"):
        validate_arrays(np.ones((200, 2)), y, "t", y_target=second)


def test_a_classification_y_target_is_encoded_with_the_labels_classes():
    y = np.array(["cat", "dog", "owl"] * 4)
    second = np.array(["owl", "cat", "cat"] * 4)
    ds = validate_arrays(np.ones((12, 2)), y, "t", y_target=second)
    assert [ds.class_names[c] for c in ds.y_target[:3]] == ["owl", "cat", "cat"]
    with pytest.raises(DatasetError, match=r"not classes of the labels: \['emu'\]"):
        validate_arrays(np.ones((12, 2)), y, "t", y_target=np.array(["emu", "cat", "cat"] * 4))


def test_y_target_must_have_one_value_per_row():
    with pytest.raises(DatasetError, match=r"y_target must have one value per row of X \(200\)"):
        validate_arrays(np.ones((200, 2)), continuous(), "t", y_target=np.ones(5))


# Splits


def test_quantile_bins_have_equal_counts_in_the_order_of_the_values():
    values = continuous(103)
    codes = quantile_bins(values, 10)
    counts = np.bincount(codes)
    assert len(counts) == 10 and counts.max() - counts.min() <= 1
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(codes[order]) >= 0)  # bins follow the ranks of the values


def test_a_regression_split_is_disjoint_sorted_covering_and_seeded():
    y = continuous(500)
    split = make_splits(y, test_size=0.2, target_size=40, random_state=3)
    joined = np.concatenate([split.pool, split.target, split.test])
    assert np.array_equal(np.sort(joined), np.arange(500))
    assert all(np.all(np.diff(part) > 0) for part in (split.pool, split.target, split.test))
    again = make_splits(y, test_size=0.2, target_size=40, random_state=3)
    other = make_splits(y, test_size=0.2, target_size=40, random_state=4)
    assert np.array_equal(split.test, again.test) and np.array_equal(split.target, again.target)
    assert not np.array_equal(split.test, other.test)


def test_a_regression_test_set_spans_every_quantile_of_the_target():
    y = continuous(1000)
    split = make_splits(y, test_size=0.2, random_state=0)
    per_decile = np.bincount(quantile_bins(y, N_QUANTILE_BINS)[split.test], minlength=N_QUANTILE_BINS)
    assert per_decile.min() >= 19 and per_decile.max() <= 21  # 200 test points, 20 per decile up to rounding


def test_target_classes_are_refused_for_a_regression_target_naming_the_option():
    with pytest.raises(DatasetError, match=r"target_classes=\[0, 1\].*continuous \(regression\).*None"):
        make_splits(continuous(), target_size=10, target_classes=[0, 1])


def test_a_split_refuses_missing_regression_values():
    y = continuous()
    y[0] = np.nan
    with pytest.raises(DatasetError, match="1 NaN or infinite"):
        make_splits(y)


def test_classification_splits_are_sklearns_stratified_draws_with_the_seed():
    from sklearn.model_selection import train_test_split

    y = np.arange(300) % 3
    split = make_splits(y, test_size=0.2, target_size=30, random_state=7)
    rest, test = train_test_split(np.arange(300), test_size=60, stratify=y, random_state=7)
    kept, target = train_test_split(rest, test_size=30, stratify=y[rest], random_state=7)
    assert np.array_equal(split.test, np.sort(test)) and np.array_equal(split.target, np.sort(target))
    assert np.array_equal(split.pool, np.sort(kept))


# Datasets


def test_diabetes_is_a_bundled_regression_dataset():
    ds = load("diabetes")
    assert ds.task == "regression" and ds.X.shape == (442, 10) and ds.X.dtype == np.float32
    assert ds.y.dtype == np.float64 and 25 <= ds.y.min() < ds.y.max() <= 346
    assert ds.target_name == "disease_progression" and ds.n_classes == 0


def test_friedman1_without_noise_is_friedmans_formula():
    ds = load("friedman1", n_samples=300, noise=0.0, n_features=7, random_state=2)
    x = ds.X.astype(np.float64)
    formula = 10 * np.sin(np.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2 + 10 * x[:, 3] + 5 * x[:, 4]
    np.testing.assert_allclose(ds.y, formula, atol=1e-5)  # X is stored in float32
    assert ds.X.shape == (300, 7) and ds.task == "regression"


def test_friedman1_is_seeded_and_refuses_fewer_than_five_features():
    a, b = load("friedman1", random_state=1), load("friedman1", random_state=1)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.y, load("friedman1", random_state=2).y)
    with pytest.raises(DatasetError, match="option n_features must be an integer in 5"):
        load("friedman1", n_features=4)


def test_the_registry_lists_the_regression_datasets_with_their_options():
    assert {"diabetes", "friedman1", "rated_stories"} <= set(available())
    assert default_options("friedman1") == {"n_samples": 1000, "noise": 1.0, "n_features": 10, "random_state": 0}
    assert default_options("rated_stories") == {"n_samples": 2000, "noise": 0.5, "pool_rater": "llm",
                                                "target_rater": "human", "random_state": 0}


# Numeric CSV files with a regression target


def rating_csv(n: int = 60) -> str:
    rng = np.random.default_rng(0)
    rows = [f"{rng.normal():.4f},{i % 5},{rng.uniform(1, 10):.4f},{rng.uniform(1, 10):.4f}" for i in range(n)]
    return "x1,x2,first,second\n" + "\n".join(rows) + "\n"


def test_a_csv_with_a_continuous_label_is_regression_and_target_column_is_the_second_rating():
    ds = load_bytes(rating_csv().encode(), "r.csv", label_column="first", target_column="second")
    assert ds.task == "regression" and ds.X.shape == (60, 2)  # the second rating is not a feature
    assert ds.target_name == "first" and ds.y_target.dtype == np.float64
    assert "target-set column 'second'" in ds.description


@pytest.mark.parametrize("column, message", [
    ("first", r"1 missing or infinite target 'first' \(row indices from 0: \[4\]\)"),
    ("second", r"1 missing or infinite target_column 'second' \(row indices from 0: \[4\]\)"),
])
def test_missing_ratings_in_a_csv_are_refused_naming_the_column_and_row(column, message):
    lines = rating_csv().splitlines()
    cells = lines[5].split(",")
    cells[["x1", "x2", "first", "second"].index(column)] = ""
    lines[5] = ",".join(cells)
    with pytest.raises(DatasetError, match=message):
        load_bytes("\n".join(lines).encode(), "r.csv", label_column="first", target_column="second")


def test_a_csv_task_option_overrides_the_inferred_task():
    text = "x,stars\n" + "".join(f"{i},{i % 5 + 1}\n" for i in range(30))
    assert load_bytes(text.encode(), "s.csv").task == "classification"
    assert load_bytes(text.encode(), "s.csv", task="regression").task == "regression"


def test_text_and_target_columns_are_refused_for_npz_files():
    import io

    buffer = io.BytesIO()
    np.savez(buffer, X=np.ones((12, 2)), y=np.arange(12) % 2)
    with pytest.raises(DatasetError, match="text_column and target_column apply to CSV files"):
        load_bytes(buffer.getvalue(), "d.npz", target_column="z")


# Caps on a CSV's shape, before parsing


@pytest.fixture
def parser_must_not_run(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the CSV was parsed although a cap was exceeded")

    monkeypatch.setattr(csv_files, "_read_frame", refuse)


@pytest.mark.parametrize("limits, message", [
    (csv_limits.CsvLimits(max_columns=3), "the header has 4 columns, over the limit of 3"),
    (csv_limits.CsvLimits(max_rows=59), "60 data rows, over the limit of 59"),
    (csv_limits.CsvLimits(max_line_bytes=10), "line 1 is longer than 10 bytes"),  # the header has 18
])
def test_csv_caps_refuse_before_parsing(monkeypatch, parser_must_not_run, limits, message):
    monkeypatch.setattr(csv_limits, "LIMITS", limits)
    with pytest.raises(DatasetError, match=message):
        load_bytes(rating_csv().encode(), "r.csv")


def test_a_header_longer_than_a_line_may_be_is_refused_by_its_column_count(monkeypatch, parser_must_not_run):
    monkeypatch.setattr(csv_limits, "LIMITS", csv_limits.CsvLimits(max_columns=100, max_line_bytes=1000))
    wide = ",".join(f"c{i}" for i in range(10_000)) + "\n" + "1," * 9_999 + "1\n"
    with pytest.raises(DatasetError, match=r"the header has \d+ or more columns, over the limit of 100"):
        load_bytes(wide.encode(), "wide.csv")


def test_a_long_line_further_down_is_named(monkeypatch, parser_must_not_run):
    monkeypatch.setattr(csv_limits, "LIMITS", csv_limits.CsvLimits(max_line_bytes=40))
    text = rating_csv().splitlines()
    text[7] = text[7] + "x" * 50
    with pytest.raises(DatasetError, match="line 8 is longer than 40 bytes"):
        load_bytes("\n".join(text).encode(), "r.csv")


def test_a_csv_at_the_caps_loads(monkeypatch):
    lines = rating_csv().splitlines()
    monkeypatch.setattr(csv_limits, "LIMITS", csv_limits.CsvLimits(
        max_columns=4, max_rows=60, max_line_bytes=max(len(line) for line in lines)))
    assert load_bytes(rating_csv().encode(), "r.csv").n_samples == 60
