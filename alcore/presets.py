"""One-click teaching demos: ``assets/presets/<name>.json`` files, each a base config, strategies and seeds.

A preset file holds::

    title, description      a name and one line for the list
    shows                   what the demo shows and what to look at (a few sentences for the page)
    page                    where it opens: "compare" (several runs) or "learn" (one run for the tour)
    base                    ExperimentConfig fields shared by every run
    strategies, seeds       the runs: one per (strategy, seed), seeds paired across strategies
    strategy_options        optional, per strategy
    metrics                 the per-cycle columns to show side by side (e.g. target_loss, div_mean_pairwise_distance)

``load_preset`` validates everything into ``ExperimentConfig`` objects, so a broken preset fails loudly in the tests,
not in front of a class.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alcore.compare import comparison_configs
from alcore.config import ConfigError, ExperimentConfig
from alcore.run_group import RunGroup

PRESETS_DIR = Path(__file__).resolve().parents[1] / "assets" / "presets"
PAGES = ("compare", "learn")
_REQUIRED = ("title", "description", "shows", "page", "base", "strategies", "seeds")
_OPTIONAL = ("strategy_options", "metrics")


class PresetError(ConfigError):
    """A preset is missing or malformed; the message names the file and the field."""


def _path(name: str, folder: Path | None = None) -> Path:
    return (folder or PRESETS_DIR) / f"{name}.json"


def list_presets(folder: Path | None = None) -> dict[str, str]:
    """Preset name (file stem) -> its one-line description, sorted by name; unreadable files are listed with the
    reason so a broken preset is visible rather than silently missing."""
    folder = folder or PRESETS_DIR
    out = {}
    for path in sorted(folder.glob("*.json")):
        try:
            out[path.stem] = str(json.loads(path.read_text()).get("description", ""))
        except (OSError, json.JSONDecodeError) as err:
            out[path.stem] = f"(unreadable: {err})"
    return out


def load_preset(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The preset ``name``, validated: ``{"name", "title", "description", "shows", "page", "base"
    (ExperimentConfig), "strategies", "seeds", "strategy_options", "metrics", "configs" (one validated
    ExperimentConfig per strategy x seed, strategy-major)}``. Raises PresetError naming the problem."""
    path = _path(name, folder)
    if "/" in name or "\\" in name or not path.exists():
        raise PresetError(f"preset {name!r} not found; choose one of {list(list_presets(folder))}")
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PresetError(f"preset {name!r} ({path.name}) is not valid JSON: {err}") from None
    missing = [k for k in _REQUIRED if k not in values]
    unknown = sorted(set(values) - set(_REQUIRED) - set(_OPTIONAL))
    if missing or unknown:
        raise PresetError(f"preset {name!r}: missing field(s) {missing}, unknown field(s) {unknown}; "
                          f"fields are {list(_REQUIRED + _OPTIONAL)}")
    if values["page"] not in PAGES:
        raise PresetError(f"preset {name!r}: page={values['page']!r} is not valid; choose one of {list(PAGES)}")
    names = list(values["strategies"])
    if not names:
        raise PresetError(f"preset {name!r}: strategies is empty")
    base_values = {"strategy": names[0], **values["base"]}
    try:
        base = ExperimentConfig.from_dict(RunGroup(base_values, tuple(names), tuple(values["seeds"])).shared_values())
        configs = comparison_configs(base, names, values["seeds"], values.get("strategy_options"))
    except ConfigError as err:
        raise PresetError(f"preset {name!r}: {err}", field=err.field) from None
    if values["page"] == "learn" and len(configs) != 1:
        raise PresetError(f"preset {name!r}: a learn preset is one run (one strategy, one seed), got {len(configs)}")
    return {"name": name, "title": str(values["title"]), "description": str(values["description"]),
            "shows": str(values["shows"]), "page": values["page"], "base": base, "strategies": names,
            "seeds": [int(s) for s in values["seeds"]], "strategy_options": dict(values.get("strategy_options", {})),
            "metrics": list(values.get("metrics", ["test_accuracy"])), "configs": configs}


def sweep_values(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The preset ``name`` as a sweep's grid: ``{"base"`` (its base config values, every field spelled out, but
    strategy, seed and name), ``"strategies"``, ``"seeds"``, ``"strategy_options"}``, validated by ``load_preset``
    first, so that ``python -m alcore sweep --preset NAME`` runs exactly the runs the app's "Run this demo" runs."""
    preset = load_preset(name, folder)
    own = ("strategy", "seed", "name", "strategy_options")
    base = {k: v for k, v in preset["base"].to_dict().items() if k not in own}
    return {"base": base, "strategies": list(preset["strategies"]), "seeds": list(preset["seeds"]),
            "strategy_options": dict(preset["strategy_options"])}
