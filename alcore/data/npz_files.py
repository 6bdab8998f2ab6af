"""NPZ files: arrays `X` (2-D features, or 3-D grey-scale images) and `y`, read without unpickling anything."""

from __future__ import annotations

import zipfile
import zlib
from typing import BinaryIO

import numpy as np

from .dataset import Dataset, validate_arrays
from .errors import DatasetError, first_line, megabytes

NPZ_MAX_EXPANSION = 10
"""An NPZ may hold at most this many times `max_bytes` once decompressed (guards against zip bombs)."""

# What zipfile and zlib raise on damaged or unsupported archives (NotImplementedError is a RuntimeError).
_ZIP_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError)


def parse_npz(stream: BinaryIO, name: str, label_key: str, max_bytes: int, task: str = "auto") -> Dataset:
    """Parse an NPZ archive with arrays `X` and `label_key`; 3-D X is a stack of (h, w) images.

    uint8 images are scaled to [0, 1] (pixel intensities), like the downloaded image datasets.
    """
    try:
        archive = np.load(stream, allow_pickle=False)
    except (ValueError, *_ZIP_ERRORS) as exc:
        raise DatasetError(
            f"{name}: not a valid .npz archive ({first_line(exc)}); save it with "
            "numpy.savez(path, X=X, y=y) using plain numeric or string arrays."
        ) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(
            f"{name}: holds a single array, not an .npz archive; save it with numpy.savez(path, X=X, y=y)."
        )
    with archive:
        X, y, class_names = _read_npz_arrays(archive, name, label_key, max_bytes)
    X, sample_shape = _flatten_images(X, name)
    return validate_arrays(
        X,
        y,
        name,
        class_names=class_names,
        sample_shape=sample_shape,
        task=task,
        description=f"{name}: {X.shape[0]} samples, {X.shape[1]} features"
        + (f", images {sample_shape[0]}x{sample_shape[1]}" if len(sample_shape) == 2 else "")
        + " (file)",
    )


def _read_npz_arrays(archive, name: str, label_key: str, max_bytes: int):
    keys = list(archive.files)
    expanded = sum(info.file_size for info in archive.zip.infolist())
    if expanded > NPZ_MAX_EXPANSION * max_bytes:
        raise DatasetError(
            f"{name}: decompresses to {megabytes(expanded)}, more than {NPZ_MAX_EXPANSION} x the "
            f"{megabytes(max_bytes)} limit; subsample the data."
        )
    missing = [k for k in ("X", label_key) if k not in keys]
    if missing:
        raise DatasetError(
            f"{name}: missing array(s) {', '.join(map(repr, missing))}; found {keys or 'no arrays'}. "
            f"Save features as X and labels as {label_key}: numpy.savez(path, X=X, {label_key}=y)."
        )
    try:
        for key in ("X", label_key, "class_names"):
            if key in keys:
                _check_header(archive, key, name)
        X = archive["X"]
        y = archive[label_key]
        class_names = archive["class_names"] if "class_names" in keys else None
    except DatasetError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc) or "Object arrays" in str(exc):  # object arrays need unpickling
            raise DatasetError(
                f"{name}: contains object arrays (pickled Python objects), which are not loaded for safety; "
                "save X as a numeric array and labels as integers or fixed-width strings (e.g. y.astype(str))."
            ) from exc
        raise _damaged(name, exc) from exc
    except _ZIP_ERRORS as exc:
        raise _damaged(name, exc) from exc
    if class_names is not None:
        if class_names.ndim != 1 or class_names.dtype.kind not in "US":
            raise DatasetError(
                f"{name}: class_names must be a 1-D array of strings, got dtype {class_names.dtype} "
                f"and shape {class_names.shape}."
            )
        class_names = [c.decode("utf-8", errors="replace") if isinstance(c, bytes) else str(c)
                       for c in class_names.tolist()]
    return X, y, class_names


def _check_header(archive, key: str, name: str) -> None:
    """Refuse an array whose header claims more data than its member holds (a damaged or forged header would make
    numpy allocate the claimed shape, petabytes, before reading a byte)."""
    member = f"{key}.npy" if f"{key}.npy" in archive.zip.namelist() else key
    held = archive.zip.getinfo(member).file_size
    with archive.zip.open(member) as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
    claimed = int(np.prod(shape, dtype=object)) * max(dtype.itemsize, 1)
    if claimed > held:
        raise DatasetError(
            f"{name}: array {key!r} claims shape {shape} ({megabytes(claimed)}) but holds {megabytes(held)}; the "
            "archive is damaged: save it again with numpy.savez."
        )


def _damaged(name: str, exc: BaseException) -> DatasetError:
    return DatasetError(f"{name}: the archive is damaged ({first_line(exc)}); save it again with numpy.savez.")


def _flatten_images(X: np.ndarray, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Return X as 2-D and the shape of one sample: (h, w) for image stacks, (d,) otherwise."""
    if X.ndim == 4 and X.shape[-1] == 1:  # (n, h, w, 1): single-channel images
        X = X[..., 0]
    if X.ndim == 3:
        n, h, w = X.shape
        flat = X.reshape(n, h * w)
        if flat.dtype == np.uint8:
            flat = flat.astype(np.float32) / np.float32(255.0)
        return flat, (h, w)
    if X.ndim == 2:
        return X, (X.shape[1],)
    raise DatasetError(
        f"{name}: X must be 2-D (n_samples, n_features) or 3-D grey-scale images (n, height, width), "
        f"got shape {X.shape}."
    )
