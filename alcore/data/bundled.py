"""Datasets shipped with scikit-learn: available offline, loaded in milliseconds."""

from __future__ import annotations

from .dataset import Dataset, validate_arrays


def _sk_datasets():
    """scikit-learn's datasets module, imported on first use: importing scikit-learn costs ~0.8 s, which the app's
    first render should not pay."""
    from sklearn import datasets
    return datasets


_DIGITS_MAX_PIXEL = 16.0  # load_digits pixels are counts 0..16


def load_digits() -> Dataset:
    """8x8 handwritten digits; pixels scaled to [0, 1] like the downloaded image datasets."""
    bunch = _sk_datasets().load_digits()
    return validate_arrays(
        bunch.data / _DIGITS_MAX_PIXEL,
        bunch.target,
        "digits",
        class_names=[str(c) for c in bunch.target_names],
        sample_shape=(8, 8),
        description=DESCRIPTIONS["digits"],
    )


def load_iris() -> Dataset:
    """Fisher's iris flowers: 150 samples, 4 measurements, 3 species."""
    return _load_tabular("iris", _sk_datasets().load_iris())


def load_wine() -> Dataset:
    """Wine cultivars: 178 samples, 13 chemical measurements, 3 classes."""
    return _load_tabular("wine", _sk_datasets().load_wine())


def load_breast_cancer() -> Dataset:
    """Wisconsin breast cancer: 569 samples, 30 cell-nucleus features, malignant or benign."""
    return _load_tabular("breast_cancer", _sk_datasets().load_breast_cancer())


def load_diabetes() -> Dataset:
    """Diabetes progression (regression): 442 patients, 10 baseline measurements (scaled by scikit-learn), and a
    quantitative measure of disease progression one year later (25..346)."""
    bunch = _sk_datasets().load_diabetes()
    return validate_arrays(
        bunch.data, bunch.target, "diabetes", task="regression", target_name="disease_progression",
        description=DESCRIPTIONS["diabetes"],
    )


def _load_tabular(name: str, bunch) -> Dataset:
    return validate_arrays(
        bunch.data,
        bunch.target,
        name,
        class_names=[str(c) for c in bunch.target_names],
        description=DESCRIPTIONS[name],
    )


DESCRIPTIONS = {
    "digits": "8x8 handwritten digits, 1797 images, 10 classes (bundled, the default)",
    "iris": "Iris flowers, 150 samples, 4 features, 3 classes (bundled)",
    "wine": "Wine cultivars, 178 samples, 13 features, 3 classes (bundled)",
    "breast_cancer": "Breast cancer diagnosis, 569 samples, 30 features, 2 classes (bundled)",
    "diabetes": "Diabetes progression, 442 samples, 10 features, regression target (bundled)",
}

#: The datasets whose target is not class labels (every other one here is classification).
TASKS = {"diabetes": "regression"}

LOADERS = {
    "digits": load_digits,
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "diabetes": load_diabetes,
}
