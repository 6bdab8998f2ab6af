"""Teaching presets (assets/presets, alcore.presets): every one loads into valid configs that fit their data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from alcore import data, presets, run_group, strategies
from alcore.config import ExperimentConfig

ALL = sorted(presets.list_presets())


def test_the_demos_the_issue_asks_for_are_there() -> None:
    assert {"cold-start-moons", "targeted-digits", "learn-tour"} <= set(ALL)
    cold = presets.load_preset("cold-start-moons")
    assert cold["base"].dataset == "moons" and cold["base"].initial_labels == 0
    assert set(cold["strategies"]) == {"entropy", "badge"}
    targeted = presets.load_preset("targeted-digits")
    assert targeted["base"].dataset == "digits" and targeted["base"].target_classes
    assert set(targeted["strategies"]) == {"alignment", "badge", "random"}
    assert "target_loss" in targeted["metrics"] and any(m.startswith("div_") for m in targeted["metrics"])


@pytest.mark.parametrize("name", ALL)
def test_every_preset_loads_into_valid_configs_that_fit_the_data(name: str) -> None:
    p = presets.load_preset(name)
    assert p["title"] and p["description"] and p["shows"] and p["page"] in presets.PAGES
    assert len(p["configs"]) == len(p["strategies"]) * len(p["seeds"])
    for config in p["configs"]:
        assert isinstance(config, ExperimentConfig)
        assert ExperimentConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()  # re-validates
        assert config.strategy in strategies.available()
    first = p["configs"][0]
    ds = data.load(first.dataset, **first.dataset_options)
    split = data.make_splits(ds.y, test_size=first.test_size, target_size=first.target_size,
                             target_classes=first.target_classes, random_state=first.seed)
    first.check_budget(len(split.pool))
    assert {c.target_size for c in p["configs"]} == {first.target_size}  # one split for every strategy
    assert all(m in run_group.CURVE_METRICS or m.startswith("div_") for m in p["metrics"])


def test_a_broken_preset_fails_with_its_name_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"title": "t", "description": "d", "shows": "s",
                                                   "page": "compare", "base": {"dataset": "moons"},
                                                   "strategies": ["nope"], "seeds": [0]}))
    (tmp_path / "short.json").write_text(json.dumps({"title": "t"}))
    with pytest.raises(presets.PresetError, match="bad.*strategy"):
        presets.load_preset("bad", folder=tmp_path)
    with pytest.raises(presets.PresetError, match="missing"):
        presets.load_preset("short", folder=tmp_path)
    with pytest.raises(presets.PresetError, match="not found"):
        presets.load_preset("absent", folder=tmp_path)
