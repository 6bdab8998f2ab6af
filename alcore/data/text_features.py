"""Numeric features for text datasets, fitted on the pool only (see docs/datasets.md#text-features).

A text dataset (`Dataset.texts` set) arrives with an empty X of shape (n, 0). Everything that
needs numbers (standardising, models, strategies, maps) works on `featurize(dataset, pool)`,
called right after the split: the vocabulary, the IDF weights and the TruncatedSVD components
are learnt from the pool rows `fit_idx` only, then applied to every row, so the test and target
texts never shape the features.

Methods:
- "tfidf": word unigrams and bigrams, sublinear TF-IDF (vocabulary capped at `MAX_VOCABULARY`);
- "hashing": the same n-grams hashed into 2^18 columns (no vocabulary; only the SVD is fitted);
- "sentence_encoder": a frozen sentence-transformers model (optional extra, see
  requirements-extras.txt), not fitted at all; the SVD, if any, is fitted on the pool.
Then TruncatedSVD to `svd_dims` dense float32 columns (`svd_dims=None` keeps TF-IDF or encoder
columns as they are; hashing needs the SVD).

Results are cached in-process (thread-safe, least recently used, at most `CACHE_SIZE` feature
matrices), keyed by a hash of the texts, the fit rows and the options; the cached arrays are
read-only and shared by every Dataset returned for the same key.
"""

from __future__ import annotations

import contextlib

import dataclasses
import hashlib
import threading
import weakref
from collections import OrderedDict

import numpy as np

from .dataset import Dataset, DatasetError, check_int
from .splits import check_rows

METHODS = ("tfidf", "hashing", "sentence_encoder")
DEFAULT_SVD_DIMS = 64
MAX_SVD_DIMS = 1024
MAX_VOCABULARY = 20_000
HASHING_FEATURES = 2**18
DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
_SINGLE_THREAD_WORK = 200_000_000  # fit rows x columns below which the SVD runs on one BLAS thread
CACHE_SIZE = 8
"""Feature matrices kept in memory (least recently used dropped first)."""

_FEATURES_NOTE = "; text features: "
_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
_digests: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def featurize(
    dataset: Dataset,
    fit_idx,
    *,
    method: str = "tfidf",
    svd_dims: int | None = DEFAULT_SVD_DIMS,
    random_state: int = 0,
    encoder_model: str = DEFAULT_ENCODER,
) -> Dataset:
    """Return `dataset` with X replaced by text features fitted on the rows `fit_idx` (the pool).

    X becomes dense float32 of shape (n, d), d = min(svd_dims, fit rows - 1, input columns - 1)
    (or the input columns when svd_dims is None). Everything else (y, y_target, texts, task) is kept.
    """
    if not isinstance(dataset, Dataset) or dataset.texts is None:
        name = getattr(dataset, "name", type(dataset).__name__)
        raise DatasetError(f"{name}: featurize needs a text dataset (one with texts); this one has none.")
    if not isinstance(method, str) or method not in METHODS:
        raise DatasetError(f"option method must be one of {', '.join(map(repr, METHODS))}, got {method!r}.")
    if svd_dims is not None:
        svd_dims = check_int(svd_dims, "svd_dims", minimum=1, maximum=MAX_SVD_DIMS, dataset=dataset.name)
    elif method == "hashing":
        raise DatasetError(
            f"{dataset.name}: method 'hashing' needs svd_dims (an integer, e.g. {DEFAULT_SVD_DIMS}); its "
            f"{HASHING_FEATURES} hashed columns are too many to keep as dense features."
        )
    random_state = check_int(random_state, "random_state", minimum=0, maximum=2**32 - 1, dataset=dataset.name)
    if not isinstance(encoder_model, str) or not encoder_model:
        raise DatasetError(f"option encoder_model must be a model name (str), got {encoder_model!r}.")
    fit = np.unique(check_rows(fit_idx, dataset.n_samples).astype(np.int64) % dataset.n_samples)
    if len(fit) < 2:
        raise DatasetError(f"{dataset.name}: fit_idx must name at least 2 rows to fit text features.")

    key = (_texts_digest(dataset), hashlib.sha256(fit.tobytes()).hexdigest(), method, svd_dims, random_state,
           encoder_model if method == "sentence_encoder" else None)
    with _lock:
        X = _cache.get(key)
        if X is not None:
            _cache.move_to_end(key)
    if X is None:  # computed outside the lock; two threads racing compute the same array, one is kept
        X = _compute(dataset.texts, fit, method, svd_dims, random_state, encoder_model, dataset.name)
        X.setflags(write=False)
        with _lock:
            _cache[key] = X
            _cache.move_to_end(key)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    what = f"{method}" + (f" + SVD to {X.shape[1]} dims" if svd_dims is not None else f", {X.shape[1]} columns")
    raw_description = dataset.description.split(_FEATURES_NOTE)[0]  # featurising again replaces the note
    return dataclasses.replace(
        dataset, X=X, sample_shape=(X.shape[1],),
        description=f"{raw_description}{_FEATURES_NOTE}{what}, fitted on {len(fit)} rows",
    )


def clear_cache() -> None:
    """Forget every cached feature matrix."""
    with _lock:
        _cache.clear()


def _texts_digest(dataset: Dataset) -> str:
    """sha256 of the texts (length-prefixed, so no separator can be forged), memoised per Dataset object."""
    with _lock:
        digest = _digests.get(dataset)
    if digest is None:
        h = hashlib.sha256()
        for text in dataset.texts:
            encoded = text.encode("utf-8", errors="surrogatepass")
            h.update(len(encoded).to_bytes(8, "little"))
            h.update(encoded)
        digest = h.hexdigest()
        with _lock:
            _digests[dataset] = digest
    return digest


def _compute(texts: tuple[str, ...], fit: np.ndarray, method: str, svd_dims: int | None, random_state: int,
             encoder_model: str, name: str) -> np.ndarray:
    fit_texts = [texts[i] for i in fit]
    if method == "sentence_encoder":
        M = _encode_sentences(texts, encoder_model, name)
    else:
        M = _vectorize(texts, fit_texts, method, name)
    if svd_dims is None:
        return np.ascontiguousarray(M.toarray() if hasattr(M, "toarray") else M, dtype=np.float32)
    if hasattr(M, "tocsr"):
        # Columns empty in every fit row cannot enter the components (they span the fit rows), so they are dropped
        # first: this turns hashing's 2^18 columns into the few thousand n-grams the pool holds.
        M = M.tocsr()
        M = M[:, np.unique(M[fit].indices)]
    n_components = min(svd_dims, len(fit) - 1, M.shape[1] - 1)
    if n_components < 1:
        raise DatasetError(
            f"{name}: the fit rows give only {M.shape[1]} feature column(s); SVD needs at least 2. "
            "Fit on more (or more varied) texts."
        )
    from sklearn.decomposition import TruncatedSVD

    from alcore.threads import one_thread

    svd = TruncatedSVD(n_components=n_components, algorithm="randomized", n_iter=5, random_state=random_state)
    # Small problems run faster on one BLAS thread (a busy 2-core machine: 0.35 s instead of 2.5 s for 1,600
    # stories); the rule depends on the size only, so the result does too.
    threads = 1 if len(fit) * M.shape[1] < _SINGLE_THREAD_WORK else None
    with one_thread("blas") if threads == 1 else contextlib.nullcontext():
        svd.fit(M[fit])
        return np.ascontiguousarray(svd.transform(M), dtype=np.float32)


def _vectorize(texts, fit_texts: list[str], method: str, name: str):
    """Sparse TF-IDF (vocabulary and IDF fitted on `fit_texts`) or hashed counts of every text."""
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer

    if method == "hashing":
        return HashingVectorizer(n_features=HASHING_FEATURES, ngram_range=(1, 2), alternate_sign=False,
                                 dtype=np.float32).transform(texts)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=MAX_VOCABULARY,
                                 dtype=np.float32)
    try:
        vectorizer.fit(fit_texts)
    except ValueError as exc:  # "empty vocabulary": only stop characters or blanks in the fit rows
        raise DatasetError(
            f"{name}: the fit rows' texts hold no words to build a vocabulary from ({exc}); check the text column."
        ) from exc
    return vectorizer.transform(texts)


def _encode_sentences(texts, encoder_model: str, name: str) -> np.ndarray:
    """Embeddings from a frozen sentence-transformers model (downloaded once into its own cache)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise DatasetError(
            "method 'sentence_encoder' needs the optional package sentence-transformers, which is not installed: "
            "pip install -r requirements-extras.txt (or pip install sentence-transformers). "
            "The default method 'tfidf' needs nothing extra."
        ) from exc
    try:
        model = SentenceTransformer(encoder_model, device="cpu")
    except Exception as exc:  # noqa: BLE001 - hub, network and file errors come in many types; all mean the same
        raise DatasetError(
            f"{name}: the sentence encoder {encoder_model!r} could not be loaded: it is not in the local cache and "
            f"could not be reached for download (no network?) ({type(exc).__name__}: {exc}). Use method 'tfidf', "
            "or download the model once on a machine with a network."
        ) from exc
    return np.asarray(model.encode(list(texts), batch_size=64, show_progress_bar=False), dtype=np.float32)
