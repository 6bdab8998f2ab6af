"""Tests for alcore.data: loaders, user files, downloads (never touching the network), splits."""

from __future__ import annotations

import io
import socket
import time
import urllib.error

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alcore.data import (
    MAX_FILE_BYTES,
    Dataset,
    DatasetError,
    Split,
    available,
    default_options,
    load,
    load_bytes,
    make_splits,
    standardize,
    validate_arrays,
)
from alcore.data import downloads, splits

BUNDLED = ["digits", "iris", "wine", "breast_cancer"]
SYNTHETIC = ["moons", "circles", "xor", "blobs", "classification"]


def assert_valid_dataset(ds: Dataset) -> None:
    """The invariants every loader promises."""
    assert ds.X.dtype == np.float32 and ds.X.ndim == 2
    assert ds.y.dtype == np.int64 and ds.y.shape == (ds.n_samples,)
    assert np.isfinite(ds.X).all()
    assert set(np.unique(ds.y).tolist()) == set(range(ds.n_classes))
    assert len(ds.class_names) == ds.n_classes >= 2
    assert int(np.prod(ds.sample_shape)) == ds.n_features
    assert ds.description


# Bundled and synthetic datasets


@pytest.mark.parametrize("name", BUNDLED + SYNTHETIC)
def test_every_builtin_dataset_is_finite_float32_with_encoded_labels(name):
    assert_valid_dataset(load(name))


def test_digits_are_8x8_images_in_unit_range_named_by_digit():
    ds = load("digits")
    assert ds.X.shape == (1797, 64)
    assert ds.sample_shape == (8, 8) and ds.is_image
    assert ds.class_names == tuple(str(d) for d in range(10))
    assert ds.X.min() == 0.0 and ds.X.max() == 1.0


@pytest.mark.parametrize(
    "name, shape, class_names",
    [
        ("iris", (150, 4), ("setosa", "versicolor", "virginica")),
        ("wine", (178, 13), ("class_0", "class_1", "class_2")),
        ("breast_cancer", (569, 30), ("malignant", "benign")),
    ],
)
def test_bundled_tabular_datasets_keep_their_shape_and_class_names(name, shape, class_names):
    ds = load(name)
    assert ds.X.shape == shape
    assert ds.class_names == class_names
    assert ds.sample_shape == (shape[1],) and not ds.is_image


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_data_is_deterministic_for_a_seed_and_changes_with_it(name):
    a = load(name, random_state=3)
    b = load(name, random_state=3)
    c = load(name, random_state=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_n_samples_sets_the_row_count(name):
    assert load(name, n_samples=123).X.shape[0] == 123


@pytest.mark.parametrize("name, n_classes, n_features", [("blobs", 5, 7), ("classification", 4, 10)])
def test_blobs_and_classification_take_class_and_feature_counts(name, n_classes, n_features):
    ds = load(name, n_samples=500, n_classes=n_classes, n_features=n_features)
    assert_valid_dataset(ds)
    assert ds.n_classes == n_classes and ds.X.shape == (500, n_features)


def test_noise_widens_the_blobs():
    tight = load("blobs", noise=0.1)
    wide = load("blobs", noise=3.0)

    def spread(ds):
        return np.mean([ds.X[ds.y == c].std(axis=0).mean() for c in range(ds.n_classes)])

    assert spread(wide) > 10 * spread(tight)


@pytest.mark.parametrize("name", ["moons", "circles", "xor"])
def test_binary_toys_reject_other_class_counts(name):
    assert load(name, n_classes=2).n_classes == 2
    with pytest.raises(DatasetError, match="n_classes must be 2"):
        load(name, n_classes=3)


@pytest.mark.parametrize(
    "options, option",
    [
        ({"n_samples": 5}, "n_samples"),
        ({"n_samples": "100"}, "n_samples"),
        ({"n_samples": 100.0}, "n_samples"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"random_state": -1}, "random_state"),
        ({"random_state": True}, "random_state"),
        ({"n_classes": 1}, "n_classes"),
        ({"n_features": 0}, "n_features"),
    ],
)
def test_invalid_option_values_are_rejected_naming_the_option(options, option):
    with pytest.raises(DatasetError, match=option):
        load("blobs", **options)


def test_classification_rejects_more_classes_than_its_informative_space_holds():
    with pytest.raises(DatasetError, match="n_classes"):
        load("classification", n_features=2, n_classes=5)


def test_a_large_blob_pool_is_cheap_and_float32():
    start = time.perf_counter()
    ds = load("blobs", n_samples=200_000, n_features=32)
    elapsed = time.perf_counter() - start
    assert ds.X.shape == (200_000, 32) and ds.X.dtype == np.float32
    assert elapsed < 2.0


# Registry


def test_available_describes_bundled_synthetic_file_and_download_sources():
    names = available()
    assert set(BUNDLED + SYNTHETIC + ["file", "mnist", "fashion_mnist"]) <= set(names)
    assert all(isinstance(d, str) and d for d in names.values())
    for download in ("mnist", "fashion_mnist"):
        assert "download" in names[download] and "needs network" in names[download]


def test_unknown_dataset_name_lists_the_valid_names():
    with pytest.raises(DatasetError, match="unknown dataset 'moon'") as info:
        load("moon")
    message = str(info.value)
    assert all(name in message for name in BUNDLED + SYNTHETIC)
    assert "Did you mean 'moons'" in message


def test_unknown_option_is_named_along_with_the_accepted_options():
    with pytest.raises(DatasetError, match="'n_sample'") as info:
        load("moons", n_sample=10)
    assert "n_samples" in str(info.value) and "random_state" in str(info.value)
    with pytest.raises(DatasetError, match="accepted options: none"):
        load("iris", random_state=1)


def test_default_options_come_from_the_loader_signature():
    assert default_options("blobs")["random_state"] == 0
    assert default_options("file") == {"path": None, "label_column": None, "text_column": None,
                                       "target_column": None, "task": "auto", "max_bytes": MAX_FILE_BYTES}
    assert default_options("digits") == {}


def test_file_source_requires_a_path():
    with pytest.raises(DatasetError, match="needs option.*'path'"):
        load("file")


# validate_arrays


def test_numeric_labels_are_encoded_in_numeric_order():
    X = np.zeros((12, 2))
    y = np.array([10, 2, 5] * 4)
    ds = validate_arrays(X, y, "t")
    assert ds.class_names == ("2", "5", "10")
    np.testing.assert_array_equal(ds.y[:3], [2, 0, 1])


def test_classes_missing_from_y_are_dropped_so_every_class_is_present():
    ds = validate_arrays(np.zeros((12, 2)), np.array([0, 2] * 6), "t", class_names=["a", "b", "c"])
    assert ds.class_names == ("a", "c")
    np.testing.assert_array_equal(np.unique(ds.y), [0, 1])


def test_values_too_large_for_float32_are_reported_as_infinite():
    X = np.ones((12, 2))
    X[3, 1] = 1e300
    with pytest.raises(DatasetError, match=r"1 infinite values in 1 rows \(row indices from 0: 3\)"):
        validate_arrays(X, np.arange(12) % 2, "t")


def test_a_label_per_row_is_rejected_as_an_identifier_column():
    with pytest.raises(DatasetError, match="identifier"):
        validate_arrays(np.zeros((12, 2)), np.arange(12), "t")


def test_three_dimensional_X_must_be_flattened_first():
    with pytest.raises(DatasetError, match="2-D"):
        validate_arrays(np.zeros((12, 2, 2)), np.arange(12) % 2, "t")


# CSV files


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def csv_text(n: int = 12, labels=("cat", "dog", "bird")) -> str:
    rows = [f"{i},{i * 0.5},{labels[i % len(labels)]}" for i in range(n)]
    return "a,b,animal\n" + "\n".join(rows) + "\n"


def test_csv_string_labels_become_sorted_class_names(tmp_path):
    ds = load("file", path=write(tmp_path, "pets.csv", csv_text()))
    assert_valid_dataset(ds)
    assert ds.name == "pets.csv"
    assert ds.class_names == ("bird", "cat", "dog")
    assert [ds.class_names[c] for c in ds.y[:3]] == ["cat", "dog", "bird"]
    np.testing.assert_array_equal(ds.X[:, 1], np.arange(12, dtype=np.float32) * 0.5)
    assert ds.sample_shape == (2,)


def test_csv_label_column_can_be_any_column(tmp_path):
    text = "label,x1,x2\n" + "".join(f"{i % 2},{i},{-i}\n" for i in range(12))
    ds = load("file", path=write(tmp_path, "d.csv", text), label_column="label")
    assert ds.X.shape == (12, 2) and ds.class_names == ("0", "1")
    np.testing.assert_array_equal(ds.X[:, 1], -np.arange(12, dtype=np.float32))


def test_csv_with_semicolons_is_read(tmp_path):
    ds = load("file", path=write(tmp_path, "eu.csv", csv_text().replace(",", ";")))
    assert ds.X.shape == (12, 2)


def test_load_bytes_parses_in_memory_like_load_file(tmp_path):
    from_disk = load("file", path=write(tmp_path, "pets.csv", csv_text()), label_column="animal")
    in_memory = load_bytes(csv_text().encode(), "pets.csv", label_column="animal")
    np.testing.assert_array_equal(from_disk.X, in_memory.X)
    np.testing.assert_array_equal(from_disk.y, in_memory.y)
    assert from_disk.class_names == in_memory.class_names


BAD_CSVS = [
    pytest.param(
        csv_text(), {"label_column": "species"}, "no column named 'species'.*'animal'", id="missing-label-column"
    ),
    pytest.param(
        csv_text().replace("0.5,", "red,", 1), {}, r"non-numeric feature columns: 'b' \(e.g. 'red'\)",
        id="non-numeric-feature",
    ),
    pytest.param(
        csv_text().replace("\n3,1.5,", "\n3,,"), {}, r"1 NaN/missing .* in 1 rows \(row indices from 0: 3\).*'b'",
        id="nan",
    ),
    pytest.param(csv_text().replace("\n3,1.5,", "\n3,inf,"), {}, "1 infinite values", id="inf"),
    pytest.param(csv_text(labels=("cat",)), {}, "only 1 class", id="one-class"),
    pytest.param(csv_text(n=5), {}, "only 5 rows; at least 10", id="too-few-rows"),
    pytest.param(csv_text(), {"max_bytes": 20}, "over the limit of 20 bytes", id="over-size-limit"),
    pytest.param("", {}, "empty", id="empty-file"),
    pytest.param("  \n\n", {}, "empty", id="blank-file"),
    pytest.param(bytes(range(256)) * 4, {}, "binary", id="binary-garbage"),
    pytest.param("a,b,label\n", {}, "no data rows", id="header-only"),
    pytest.param("".join(f"{i},{i},{i % 2}\n" for i in range(12)), {}, "header", id="no-header"),
    pytest.param("a,b,c\n1,2,3\n1,2,3,4,5\n", {}, "could not be parsed as CSV", id="ragged-rows"),
    pytest.param("a,b,c\n" + "caf\xe9,1,2\n" * 12, {}, None, id="latin-1"),
    pytest.param("abc\n1\n2\n", {}, "found 1 column", id="single-column"),
    pytest.param("a,y\n" + "".join(f"{i},{i % 3 + 0.5}\n" for i in range(12)), {}, "non-integer", id="float-labels"),
    pytest.param(csv_text().replace(",cat\n", ",\n", 1), {}, "1 missing labels", id="missing-label"),
]


@pytest.mark.parametrize("content, options, message", BAD_CSVS)
def test_bad_csv_raises_dataset_error_saying_what_is_wrong(tmp_path, content, options, message):
    if isinstance(content, str) and "\xe9" in content:
        content, message = content.encode("latin-1"), "UTF-8"
    path = write(tmp_path, "bad.csv", content)
    with pytest.raises(DatasetError, match=message):
        load("file", path=path, **options)
    with pytest.raises(DatasetError, match=message):  # the in-memory path gives the same answer
        load_bytes(path.read_bytes(), "bad.csv", **options)


def test_unsupported_suffix_lists_the_supported_ones(tmp_path):
    with pytest.raises(DatasetError, match=r"unsupported file type '.xlsx'.*\.csv, \.npz"):
        load("file", path=write(tmp_path, "data.xlsx", csv_text()))


def test_missing_file_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="file not found"):
        load("file", path=tmp_path / "nope.csv")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".npz"]))
def test_arbitrary_bytes_either_load_or_raise_dataset_error(data, suffix):
    try:
        ds = load_bytes(data, "upload" + suffix)
    except DatasetError:
        return
    assert_valid_dataset(ds)


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet="0123456789abc,.;-\n\"' e", max_size=200))
def test_arbitrary_csv_like_text_either_loads_or_raises_dataset_error(text):
    try:
        ds = load_bytes(text.encode(), "upload.csv")
    except DatasetError:
        return
    assert_valid_dataset(ds)


# NPZ files


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_npz_with_2d_features_and_string_labels(tmp_path):
    X = np.arange(24, dtype=np.float64).reshape(12, 2)
    y = np.array(["no", "yes"] * 6)
    ds = load("file", path=write(tmp_path, "t.npz", npz_bytes(X=X, y=y)))
    assert_valid_dataset(ds)
    np.testing.assert_array_equal(ds.X, X.astype(np.float32))
    assert ds.class_names == ("no", "yes") and ds.sample_shape == (2,)


def test_npz_image_stack_is_flattened_with_its_image_shape(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 5, 7), dtype=np.uint8)
    y = np.arange(20) % 4
    ds = load("file", path=write(tmp_path, "img.npz", npz_bytes(X=images, y=y, class_names=np.array(list("abcd")))))
    assert_valid_dataset(ds)
    assert ds.X.shape == (20, 35) and ds.sample_shape == (5, 7) and ds.is_image
    np.testing.assert_allclose(ds.X[3].reshape(5, 7), images[3] / 255.0, rtol=1e-6)
    assert ds.class_names == ("a", "b", "c", "d")


def test_npz_load_bytes_matches_load_file(tmp_path):
    data = npz_bytes(X=np.random.default_rng(1).normal(size=(15, 3)), y=np.arange(15) % 3)
    a = load("file", path=write(tmp_path, "t.npz", data))
    b = load_bytes(data, "t.npz")
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)


BAD_NPZS = [
    pytest.param(
        npz_bytes(features=np.zeros((12, 2)), y=np.arange(12) % 2), r"missing array\(s\) 'X'; found \['features', 'y'\]",
        id="missing-key",
    ),
    pytest.param(
        npz_bytes(X=np.zeros((12, 2)), y=np.array(["a", None] * 6, dtype=object)), "object arrays", id="object-array"
    ),
    pytest.param(npz_bytes(X=np.full((12, 2), np.nan), y=np.arange(12) % 2), "24 NaN", id="nan"),
    pytest.param(npz_bytes(X=np.zeros((12, 4, 4, 3)), y=np.arange(12) % 2), "grey-scale", id="colour-images"),
    pytest.param(npz_bytes(X=np.zeros((12, 2)), y=np.zeros(12, dtype=int)), "only 1 class", id="one-class"),
    pytest.param(npz_bytes(X=np.zeros((12, 2)), y=np.arange(11) % 2), "one label per row", id="length-mismatch"),
    pytest.param(b"PK\x03\x04 not really a zip", "not a valid .npz", id="corrupt-zip"),
    pytest.param(b"definitely not numpy", "not a valid .npz", id="garbage"),
]


@pytest.mark.parametrize("content, message", BAD_NPZS)
def test_bad_npz_raises_dataset_error_saying_what_is_wrong(tmp_path, content, message):
    with pytest.raises(DatasetError, match=message):
        load("file", path=write(tmp_path, "bad.npz", content))


def test_a_single_npy_array_named_npz_is_rejected(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((12, 3)))
    with pytest.raises(DatasetError, match="single array"):
        load_bytes(buffer.getvalue(), "x.npz")


def test_npz_label_column_names_the_label_array():
    ds = load_bytes(npz_bytes(X=np.zeros((12, 2)), labels=np.arange(12) % 3), "t.npz", label_column="labels")
    assert ds.n_classes == 3


# Downloads (never touch the network)


@pytest.fixture
def empty_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ALCORE_DATA_HOME", str(tmp_path / "data-home"))
    return tmp_path / "data-home"


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_download_without_network_fails_fast_suggesting_bundled_data(empty_data_home, monkeypatch, name):
    monkeypatch.setattr(downloads, "_openml_reachable", lambda *a, **k: False)
    monkeypatch.setattr(downloads, "_fetch_openml", pytest.fail)
    start = time.perf_counter()
    with pytest.raises(DatasetError, match=r"could not be downloaded \(no network\?\).*bundled.*upload"):
        load(name)
    assert time.perf_counter() - start < 1.0


def test_a_failed_fetch_becomes_dataset_error_and_restores_the_socket_timeout(empty_data_home, monkeypatch):
    def refuse(*args, **kwargs):
        assert socket.getdefaulttimeout() == downloads.DOWNLOAD_SOCKET_TIMEOUT_S
        raise urllib.error.URLError("connection refused")

    before = socket.getdefaulttimeout()
    monkeypatch.setattr(downloads, "_openml_reachable", lambda *a, **k: True)
    monkeypatch.setattr(downloads, "_fetch_openml", refuse)
    with pytest.raises(DatasetError, match="no network"):
        load("mnist")
    assert socket.getdefaulttimeout() == before


def test_reachability_check_gives_up_within_its_timeout(monkeypatch):
    def hang(*args, **kwargs):
        time.sleep(2.0)
        raise OSError("too late")

    monkeypatch.setattr(downloads.socket, "create_connection", hang)
    start = time.perf_counter()
    assert downloads._openml_reachable(timeout=0.2) is False
    assert time.perf_counter() - start < 1.0


def test_download_is_scaled_subsampled_stratified_and_cached(empty_data_home, monkeypatch):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(400, 784)).astype(np.float64)
    labels = np.array([str(i % 10) for i in range(400)], dtype=object)
    monkeypatch.setattr(downloads, "_openml_reachable", lambda *a, **k: True)
    monkeypatch.setattr(downloads, "_fetch_openml", lambda name, home: (pixels, labels))

    ds = load("fashion_mnist", n_samples=200, random_state=1)
    assert_valid_dataset(ds)
    assert ds.X.shape == (200, 784) and ds.sample_shape == (28, 28)
    assert 0.0 <= ds.X.min() and ds.X.max() <= 1.0
    assert np.bincount(ds.y).tolist() == [20] * 10
    assert ds.class_names[9] == "Ankle boot"

    # The second load reads the cache: no reachability check, no fetch.
    monkeypatch.setattr(downloads, "_openml_reachable", pytest.fail)
    monkeypatch.setattr(downloads, "_fetch_openml", pytest.fail)
    again = load("fashion_mnist", n_samples=200, random_state=1)
    np.testing.assert_array_equal(again.X, ds.X)
    assert not np.array_equal(load("fashion_mnist", n_samples=200, random_state=2).X, ds.X)


# Splits


@pytest.fixture(scope="module")
def digit_labels():
    return load("digits").y


def test_split_is_disjoint_sorted_and_covers_every_index(digit_labels):
    split = make_splits(digit_labels, test_size=0.25, target_size=40)
    parts = [split.pool, split.target, split.test]
    assert all(p.dtype == np.int64 and np.all(np.diff(p) > 0) for p in parts)
    assert sum(len(p) for p in parts) == len(digit_labels)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(len(digit_labels)))
    assert len(split.test) == int(np.ceil(0.25 * len(digit_labels))) and len(split.target) == 40


def test_test_and_target_sets_are_stratified(digit_labels):
    split = make_splits(digit_labels, test_size=0.3, target_size=200)
    overall = np.bincount(digit_labels) / len(digit_labels)
    for part in (split.test, split.target):
        fractions = np.bincount(digit_labels[part], minlength=10) / len(part)
        np.testing.assert_allclose(fractions, overall, atol=0.01)


def test_split_is_seeded(digit_labels):
    a = make_splits(digit_labels, target_size=30, random_state=5)
    b = make_splits(digit_labels, target_size=30, random_state=5)
    c = make_splits(digit_labels, target_size=30, random_state=6)
    for part in ("pool", "target", "test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.test, c.test)


def test_target_classes_restrict_the_target_set(digit_labels):
    split = make_splits(digit_labels, target_size=60, target_classes=[3, 7])
    assert set(digit_labels[split.target].tolist()) == {3, 7}
    assert np.bincount(digit_labels[split.target]).tolist()[3] in (29, 30, 31)


def test_zero_target_size_gives_an_empty_target(digit_labels):
    split = make_splits(digit_labels)
    assert isinstance(split, Split) and split.target.dtype == np.int64 and len(split.target) == 0


def test_test_size_may_be_a_count(digit_labels):
    assert len(make_splits(digit_labels, test_size=100).test) == 100


def test_split_falls_back_to_unstratified_when_a_class_is_tiny():
    y = np.array([0] * 30 + [1] * 30 + [2])
    split = make_splits(y, test_size=0.2, random_state=0)
    assert sum(map(len, (split.pool, split.target, split.test))) == len(y)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"test_size": 0.0}, "test_size"),
        ({"test_size": 1.0}, "test_size"),
        ({"test_size": -3}, "test_size"),
        ({"test_size": 100}, "test_size"),
        ({"test_size": True}, "test_size"),
        ({"target_size": 81}, "target_size=81 is larger than the 80"),
        ({"target_size": 41, "target_classes": [1]}, "larger than the 40 non-test points of classes \\[1\\]"),
        ({"target_size": 80}, "pool would be empty"),
        ({"target_size": 1, "target_classes": [4]}, "unknown target class"),
        ({"target_size": 1, "target_classes": []}, "at least one class"),
        ({"target_size": -1}, "target_size"),
    ],
)
def test_split_rejects_impossible_requests(options, message):
    y = np.arange(100) % 2
    with pytest.raises(DatasetError, match=message):
        make_splits(y, **options)


def test_standardize_uses_pool_statistics_only():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=5.0, scale=3.0, size=(300, 4)).astype(np.float32)
    X[:, 3] = 7.0  # constant column
    pool = np.arange(200)
    X[200:] += 100.0  # rows outside the pool must not shift the statistics
    Z = standardize(X, pool)
    assert Z.dtype == np.float32 and Z.shape == X.shape
    np.testing.assert_allclose(Z[pool, :3].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z[pool, :3].std(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(Z[pool, 3], 0.0)  # constant over the pool: std 1, not a division by 0
    assert Z[200:, :3].mean() > 20


def test_standardize_gives_the_same_answer_in_chunks(monkeypatch):
    X = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    fit = np.arange(0, 50, 2)
    whole = standardize(X, fit)
    monkeypatch.setattr(splits, "_STANDARDIZE_CHUNK_ROWS", 7)
    np.testing.assert_allclose(standardize(X, fit), whole, rtol=1e-6, atol=1e-6)
    expected = (X - X[fit].mean(axis=0)) / X[fit].std(axis=0)
    np.testing.assert_allclose(whole, expected, rtol=1e-5, atol=1e-5)
