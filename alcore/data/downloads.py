"""MNIST and Fashion-MNIST from OpenML: optional, need a network the first time.

The first load downloads through scikit-learn's `fetch_openml` and keeps the raw pixels as a
compressed NPZ in the data home (`$ALCORE_DATA_HOME`, default `~/.cache/alcore`); later loads
read that file and need no network. Without a network the load fails within a few seconds with
a `DatasetError` that suggests a bundled dataset, instead of hanging in a DNS lookup or retries.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import Dataset, DatasetError, check_int, validate_arrays

OPENML_HOST = "www.openml.org"
REACHABILITY_TIMEOUT_S = 3.0
DOWNLOAD_SOCKET_TIMEOUT_S = 30.0  # per blocking socket operation while downloading, not in total
DEFAULT_N_SAMPLES = 10_000


@dataclass(frozen=True)
class _Source:
    openml_name: str
    class_names: tuple[str, ...]
    description: str


SOURCES = {
    "mnist": _Source(
        "mnist_784",
        tuple(str(d) for d in range(10)),
        "MNIST handwritten digits, 28x28, 70000 images, 10 classes (download, needs network the first time)",
    ),
    "fashion_mnist": _Source(
        "Fashion-MNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Ankle boot"),
        "Fashion-MNIST clothing images, 28x28, 70000 images, 10 classes (download, needs network the first time)",
    ),
}

DESCRIPTIONS = {name: source.description for name, source in SOURCES.items()}


def data_home() -> Path:
    """Where downloads are cached: `$ALCORE_DATA_HOME`, else `~/.cache/alcore`."""
    return Path(os.environ.get("ALCORE_DATA_HOME") or Path.home() / ".cache" / "alcore")


def load_mnist(*, n_samples: int = DEFAULT_N_SAMPLES, random_state: int = 0) -> Dataset:
    """MNIST digits; a stratified, seeded subsample of `n_samples` images (pixels in [0, 1])."""
    return _load("mnist", n_samples, random_state)


def load_fashion_mnist(*, n_samples: int = DEFAULT_N_SAMPLES, random_state: int = 0) -> Dataset:
    """Fashion-MNIST; a stratified, seeded subsample of `n_samples` images (pixels in [0, 1])."""
    return _load("fashion_mnist", n_samples, random_state)


LOADERS = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}


def _load(name: str, n_samples, random_state) -> Dataset:
    source = SOURCES[name]
    n_samples = check_int(n_samples, "n_samples", minimum=100, dataset=name)
    random_state = check_int(random_state, "random_state", minimum=0, maximum=2**32 - 1, dataset=name)
    pixels, labels = _cached_or_download(name, source)
    index = _stratified_subsample(labels, n_samples, random_state)
    X = pixels[index].astype(np.float32) / np.float32(255.0)
    return validate_arrays(
        X,
        labels[index],
        name,
        class_names=source.class_names,
        sample_shape=(28, 28),
        description=f"{source.description}; {len(index)} sampled",
    )


def _cached_or_download(name: str, source: _Source) -> tuple[np.ndarray, np.ndarray]:
    """Raw pixels (uint8, (70000, 784)) and labels (int64), from the cache or OpenML."""
    cache = data_home() / f"{name}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as archive:
                return archive["pixels"], archive["labels"]
        except (OSError, ValueError, KeyError, EOFError):
            pass  # a damaged cache is downloaded again
    if not _openml_reachable():
        raise _offline_error(name)
    try:
        with _socket_timeout(DOWNLOAD_SOCKET_TIMEOUT_S):
            X, y = _fetch_openml(source.openml_name, data_home())
    except (urllib.error.URLError, OSError, TimeoutError) as exc:  # URLError and socket errors are OSErrors
        raise _offline_error(name, exc) from exc
    pixels = np.clip(np.rint(np.asarray(X, dtype=np.float64)), 0, 255).astype(np.uint8)
    labels = np.asarray(y).astype(str).astype(np.int64)  # OpenML labels are the strings '0'..'9'
    try:
        _write_cache(cache, pixels, labels)
    except OSError:
        pass  # an unwritable data home only costs a download next time
    return pixels, labels


def _fetch_openml(openml_name: str, home: Path):
    """Download (or read sklearn's cache of) an OpenML dataset; returns (X, y) arrays."""
    from sklearn.datasets import fetch_openml  # imported here: only downloads need it

    return fetch_openml(
        openml_name, version=1, as_frame=False, parser="auto", data_home=str(home / "openml"),
        return_X_y=True, n_retries=1, delay=0.0,
    )


def _openml_reachable(timeout: float = REACHABILITY_TIMEOUT_S) -> bool:
    """True if a TCP connection to OpenML opens within `timeout` seconds.

    Runs in a daemon thread because the DNS lookup inside `create_connection` ignores socket
    timeouts and can block far longer on a machine without a network.
    """
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((OPENML_HOST, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True, name="alcore-openml-check")
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """Temporarily set the default socket timeout, which urllib (and so fetch_openml) uses."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _offline_error(name: str, exc: BaseException | None = None) -> DatasetError:
    reason = f" ({exc})" if exc is not None else ""
    return DatasetError(
        f"{name} could not be downloaded (no network?){reason}. Use a bundled dataset such as "
        f"'digits', or upload a file; once downloaded, it is kept in {data_home()} for offline use."
    )


def _write_cache(path: Path, pixels: np.ndarray, labels: np.ndarray) -> None:
    """Write atomically (``alcore.atomic_files``) so an interrupted write leaves no broken cache."""
    from alcore import atomic_files

    atomic_files.write_with(path, lambda stream: np.savez_compressed(stream, pixels=pixels, labels=labels))


def _stratified_subsample(labels: np.ndarray, n_samples: int, random_state: int) -> np.ndarray:
    """Sorted indices of a stratified, seeded subsample; all indices if n_samples covers them."""
    if n_samples >= len(labels):
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split  # here: the app's first render skips scikit-learn

    index, _ = train_test_split(
        np.arange(len(labels)), train_size=n_samples, stratify=labels, random_state=random_state
    )
    return np.sort(index)
