"""The run's data as every strategy of a seed sees it: the pool / target / test split of its labels and its numeric
features (text featurised on the pool). The loop and the export both derive them here, so they agree."""
from __future__ import annotations

import numpy as np

from alcore import data, seeding
from alcore.config import ConfigError, ExperimentConfig
from alcore.validation import show


def run_split(config: ExperimentConfig, y: np.ndarray) -> data.Split:
    """The run's pool / target / test split of labels ``y`` (the same for every strategy of a seed); a split the
    data cannot give is a ConfigError naming the setting to change."""
    try:
        return data.make_splits(y, test_size=config.test_size, target_size=config.target_size,
                                target_classes=config.target_classes,
                                random_state=seeding.run_seed(config.seed, seeding.SPLIT))
    except data.DatasetError as err:
        raise split_error(err, config) from None


# Words of a split's refusal (alcore.data.splits) and the setting each is about.
_SPLIT_WORDS = (("target_size", "target_size"), ("target_classes", "target_classes"),
                ("target class", "target_classes"), ("test_size", "test_size"))


def split_error(err: Exception, config: ExperimentConfig) -> Exception:
    """A split's refusal as a ConfigError naming the setting it mentions first (``target_size``,
    ``target_classes``, ``test_size``), or the error itself when it mentions none."""
    text = str(err)
    found = sorted((text.find(words), field) for words, field in _SPLIT_WORDS if words in text)
    if not found:
        return err
    field = found[0][1]
    value = getattr(config, field)
    return ConfigError(f"{field}={show(value)} is not valid for this data; {text}", field=field, value=value)


def prepare_features(dataset: data.Dataset, pool: np.ndarray, seed: int) -> data.Dataset:
    """The dataset with numeric features: a text dataset's are fitted on the pool right after the split
    (docs/datasets.md#text-features), with the run's own stream for the SVD; others are returned as they are."""
    if not dataset.needs_features:
        return dataset
    return data.featurize(dataset, pool, random_state=seeding.integer(seed, seeding.TEXT_FEATURES))
