"""The lock under which heavy libraries (torch, scikit-learn, scipy, openTSNE) are imported for the first time.

Some libraries look torch up in ``sys.modules`` without importing it (scipy's array-API helpers, run by
``import scipy.stats``) and fail on a torch module that another thread is still importing ("partially initialized
module 'torch' has no attribute 'Tensor'"). So every first import of the engine goes through this one lock: the
app's warm-up and workers (``alcore.jobs.import_engine``) and the answers computed from the engine's classes
(``alcore.source_cache``). Reentrant: an import under the lock may ask for one of those answers.
"""
from __future__ import annotations

import threading

IMPORT_LOCK = threading.RLock()
