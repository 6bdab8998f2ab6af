"""Rated stories: short generated stories, each rated by two raters (docs/datasets.md#rated-stories).

Every story is built from templates whose slots are filled according to drawn attributes (genre,
tone, length, vocabulary register, plot devices, clichés, a coherent or broken arc, the ending),
so the words carry the attributes. Two raters score each story on a 1-10 scale with documented,
additive rules (`RULES`) that agree in part (both reward a coherent arc and punish an open
ending and clichés) and differ in part (the "LLM" rater rewards length, ornate words, plot devices
and twist endings; the "human" rater rewards humour and happy endings), plus
independent Gaussian rater noise. A model on text features can learn either rating; the natural
targeted task rates the pool by one rater and the target set by the other.

`python -m alcore.data` prints the generation time, the raters' correlation and the R^2
a ridge regression on TF-IDF + SVD features reaches for each rater on held-out stories.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .dataset import Dataset, DatasetError, check_float, check_int, validate_arrays

RATERS = ("llm", "human")
DEFAULT_N_SAMPLES = 2000
MIN_RATING, MAX_RATING = 1.0, 10.0
BASE_RATING = {"llm": 2.1, "human": 4.4}  # each rater's rating of a story with no rewarded attribute

GENRES = ("fantasy", "science fiction", "mystery", "romance", "horror")
TONES = ("humorous", "earnest", "dark")
ENDINGS = ("happy", "sad", "twist", "open")
REGISTERS = ("plain", "ornate")
CLICHES = ("stormy_night", "chosen_one", "little_did")
P_COHERENT = 0.65
P_CLICHE = 0.3  # each cliché independently
MAX_EPISODES = 5
MAX_DEVICES = 3

# Points added to the rater's BASE_RATING by each attribute, per rater; the sum plus noise is clipped to 1..10.
RULES: dict[str, dict[str, float]] = {
    # shared taste
    "coherent_arc":        {"llm": 3.0, "human": 3.0},
    "ending=open":         {"llm": -1.5, "human": -1.5},
    "per_cliche":          {"llm": -0.6, "human": -0.8},  # 0..3 clichés
    # differing taste
    "ending=happy":        {"llm": 0.3, "human": 1.2},
    "ending=sad":          {"llm": 0.2, "human": -0.3},
    "ending=twist":        {"llm": 1.2, "human": 0.3},
    "per_extra_episode":   {"llm": 0.4, "human": -0.1},  # length: episodes beyond the first (0..4)
    "register=ornate":     {"llm": 1.0, "human": -0.4},
    "per_plot_device":     {"llm": 0.3, "human": 0.0},   # 0..3 devices
    "tone=humorous":       {"llm": -0.2, "human": 1.2},
    "tone=dark":           {"llm": 0.3, "human": -0.3},
    "genre=fantasy":       {"llm": 0.3, "human": 0.0},
    "genre=science fiction": {"llm": 0.3, "human": 0.0},
    "genre=mystery":       {"llm": 0.0, "human": 0.3},
    "genre=romance":       {"llm": 0.0, "human": 0.3},
    "genre=horror":        {"llm": 0.0, "human": -0.3},
}

# Vocabulary. A genre brings its heroes, goals and rivals; names, settings and places carry no rating.
CAST = {
    "fantasy": (("a young knight", "an apprentice wizard", "a wandering bard"),
                ("the lost crown", "a dragon egg", "the silver sword"),
                ("a jealous sorcerer", "the goblin king", "a cursed giant")),
    "science fiction": (("a starship pilot", "a robot mechanic", "a lunar botanist"),
                        ("the missing star map", "a stolen power core", "the last signal from Earth"),
                        ("a rogue android", "the space pirates", "a malfunctioning computer")),
    "mystery": (("a retired detective", "a curious librarian", "a night nurse"),
                ("the stolen painting", "a missing diary", "the secret of the locked room"),
                ("a charming forger", "the mayor's butler", "a masked thief")),
    "romance": (("a shy baker", "a travelling violinist", "a florist"),
                ("a lost love letter", "the heart of the new neighbour", "the perfect wedding cake"),
                ("a smug rival suitor", "a meddling aunt", "a strict landlord")),
    "horror": (("a lonely caretaker", "a night watchman", "a young medium"),
               ("the source of the whispers", "the cellar key", "the missing twins"),
               ("a pale ghost", "something under the floor", "the thing in the mirror")),
}
NAMES = ("Mara", "Tobias", "Lena", "Omar", "Ines", "Felix", "Priya", "Hugo", "Zoe", "Ravi", "Nina", "Elias")
SETTINGS = ("a harbour town", "a mountain village", "a crowded city", "a desert outpost", "a quiet island",
            "an old forest")
PLACES = ("market", "tower", "river", "library", "station", "bridge")
CONNECTORS = ("First", "Next", "Later", "After a while", "Soon after")  # episode k uses CONNECTORS[k]
WORDS = {  # register -> slot -> choices
    "plain": {"lived": ("lived in",), "wanted": ("wanted to find",),
              "went": ("walked to", "went to", "ran to", "looked around"),
              "adjective": ("big", "dark", "old", "cold")},
    "ornate": {"lived": ("dwelt amid the splendour of",), "wanted": ("yearned, with an ardent heart, to recover",),
               "went": ("meandered toward", "ventured resolutely into", "wandered languidly through", "scrutinised"),
               "adjective": ("colossal", "crepuscular", "antediluvian", "glacial")},
}
TONE_LINES = {
    "humorous": ("{name} tripped over a very rude goose, which laughed.",
                 "A talking parrot kept telling terrible jokes.",
                 "{name}'s disguise was a fake moustache that kept falling off."),
    "earnest": ("{name} thought carefully about what mattered most.",
                "{name} promised to keep going, whatever it cost."),
    "dark": ("The shadows grew longer and colder.", "Somewhere, something was watching and waiting."),
}
DEVICES = ("A hidden map showed the way.", "A secret letter changed everything.",
           "A mysterious stranger offered help.", "A storm cut off every road.",
           "A strange key opened a door nobody had seen before.", "An old prophecy was found in a book.")
UNRELATED = ("a sandwich", "a forgotten umbrella", "a box of buttons")
ENDING_LINES = {
    "happy": "In the end, {name} found {thing}, and everyone celebrated with cake and laughter.",
    "sad": "In the end, {name} lost {thing} forever and walked home alone in the rain.",
    "twist": "In the end, it was revealed that {rival} had been {name}'s sibling all along, and the hunt for {thing} "
             "was a trick.",
    "open": "Whether {name} ever found {thing}, nobody knows.",
}


@dataclass(frozen=True, eq=False)
class Stories:
    """Generated stories: texts, the attributes that made them, and both raters' ratings (float64, 1..10)."""

    texts: tuple[str, ...]
    attributes: dict[str, np.ndarray]  # genre, tone, ending, register: codes into the tuples above; counts; flags
    ratings: dict[str, np.ndarray]  # rater -> rating per story


def generate(n_samples: int = DEFAULT_N_SAMPLES, noise: float = 0.5, random_state: int = 0) -> Stories:
    """Draw `n_samples` stories and their two ratings; the same arguments give the same stories and ratings."""
    rng = np.random.default_rng(random_state)
    attributes = _draw_attributes(n_samples, rng)
    slots = rng.random((n_samples, 8 + 2 * MAX_EPISODES))  # word choices: name, role, goal, ..., per episode
    device_order = rng.random((n_samples, len(DEVICES))).argsort(axis=1)
    texts = tuple(_story(attributes, i, slots[i], device_order[i]) for i in range(n_samples))
    rater_noise = rng.standard_normal((len(RATERS), n_samples)) * noise
    ratings = {rater: np.clip(rater_score(attributes, rater) + rater_noise[r], MIN_RATING, MAX_RATING)
               for r, rater in enumerate(RATERS)}
    return Stories(texts, attributes, ratings)


def rater_score(attributes: dict[str, np.ndarray], rater: str) -> np.ndarray:
    """BASE_RATING plus the points of `RULES` for `rater`, before noise and clipping."""
    score = np.full(len(attributes["genre"]), BASE_RATING[rater])
    for rule, points in RULES.items():
        score += points[rater] * _rule_value(attributes, rule)
    return score


def load_rated_stories(*, n_samples: int = DEFAULT_N_SAMPLES, noise: float = 0.5, pool_rater: str = "llm",
                       target_rater: str = "human", random_state: int = 0) -> Dataset:
    """Generated stories as a text regression dataset: y is `pool_rater`'s rating, y_target `target_rater`'s.

    X is empty until `featurize` computes text features on the pool (docs/datasets.md#text-features).
    """
    n_samples = check_int(n_samples, "n_samples", minimum=100, maximum=1_000_000, dataset="rated_stories")
    noise = check_float(noise, "noise", minimum=0.0, maximum=10.0, dataset="rated_stories")
    random_state = check_int(random_state, "random_state", minimum=0, maximum=2**32 - 1, dataset="rated_stories")
    for option, rater in (("pool_rater", pool_rater), ("target_rater", target_rater)):
        if not isinstance(rater, str) or rater not in RATERS:
            raise DatasetError(
                f"rated_stories: option {option} must be one of {', '.join(map(repr, RATERS))}, got {rater!r}."
            )
    stories = generate(n_samples, noise, random_state)
    return validate_arrays(
        None, stories.ratings[pool_rater], "rated_stories", texts=stories.texts, task="regression",
        target_name=f"rating_{pool_rater}", y_target=stories.ratings[target_rater],
        description=f"Rated stories, {n_samples} texts; pool rated by the {pool_rater} rater, target set by the "
                    f"{target_rater} rater (1-10; generated)",
    )


DESCRIPTIONS = {
    "rated_stories": "Generated short stories rated 1-10 by an 'llm' and a 'human' rater, text regression "
                     "(generated; n_samples, noise, pool_rater, target_rater, random_state)",
}
LOADERS = {"rated_stories": load_rated_stories}
TASKS = {"rated_stories": "regression"}


def _draw_attributes(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "genre": rng.integers(len(GENRES), size=n),
        "tone": rng.integers(len(TONES), size=n),
        "ending": rng.integers(len(ENDINGS), size=n),
        "register": rng.integers(len(REGISTERS), size=n),
        "episodes": rng.integers(1, MAX_EPISODES + 1, size=n),
        "devices": rng.integers(0, MAX_DEVICES + 1, size=n),
        "coherent_arc": rng.random(n) < P_COHERENT,
        **{f"cliche={c}": rng.random(n) < P_CLICHE for c in CLICHES},
    }


def _rule_value(attributes: dict[str, np.ndarray], rule: str) -> np.ndarray:
    """The amount of `rule` in each story: 0/1 for a category or flag, a count for the per_ rules."""
    if rule == "per_extra_episode":
        return attributes["episodes"] - 1.0
    if rule == "per_plot_device":
        return attributes["devices"].astype(float)
    if rule == "per_cliche":
        return sum(attributes[f"cliche={c}"] for c in CLICHES).astype(float)
    if "=" in rule:
        field, value = rule.split("=", 1)
        choices = {"genre": GENRES, "tone": TONES, "ending": ENDINGS, "register": REGISTERS}[field]
        return (attributes[field] == choices.index(value)).astype(float)
    return attributes[rule].astype(float)


def _pick(choices, u: float):
    return choices[int(u * len(choices))]


def _story(a: dict[str, np.ndarray], i: int, u: np.ndarray, device_order: np.ndarray) -> str:
    """One story from the templates; `u` holds uniform numbers that pick words for its slots."""
    genre, tone, ending = GENRES[a["genre"][i]], TONES[a["tone"][i]], ENDINGS[a["ending"][i]]
    words = WORDS[REGISTERS[a["register"][i]]]
    roles, goals, rivals = CAST[genre]
    name, setting = _pick(NAMES, u[0]), _pick(SETTINGS, u[1])
    role, goal, rival = _pick(roles, u[2]), _pick(goals, u[3]), _pick(rivals, u[4])
    lines = [f"It was a dark and stormy night in {setting}, where {name} {words['lived'][0].split()[0]}."
             if a["cliche=stormy_night"][i] else f"{name} {words['lived'][0]} {setting}."]
    lines.append(f"{name}, {role}, {words['wanted'][0]} {goal}.")
    if a["cliche=chosen_one"][i]:
        lines.append(f"Everyone said {name} was the chosen one.")
    if a["cliche=little_did"][i]:
        lines.append(f"Little did {name} know that everything was about to change.")
    lines += [DEVICES[d] for d in device_order[:a["devices"][i]]]
    for k in range(a["episodes"][i]):
        place, adjective = _pick(PLACES, u[8 + 2 * k]), _pick(words["adjective"], u[9 + 2 * k])
        lines.append(f"{CONNECTORS[k]}, {name} {_pick(words['went'], u[5])} the {adjective} {place}.")
        if k == 0:
            lines.append(_pick(TONE_LINES[tone], u[6]).format(name=name))
    if a["coherent_arc"][i]:
        lines.append(f"But {rival} wanted {goal} too, and stood in the way.")
        thing = goal
    else:
        lines.append(f"Meanwhile, {rival} opened a shop that sold umbrellas.")
        thing = _pick(UNRELATED, u[7])
    lines.append(ENDING_LINES[ending].format(name=name, thing=thing, rival=rival))
    return " ".join(lines)


def measure(n_samples: int = DEFAULT_N_SAMPLES, noise: float = 0.5, random_state: int = 0,
            svd_dims: int = 64, method: str = "tfidf", label_counts: tuple[int, ...] = (20, 200)) -> dict[str, float]:
    """How learnable and how alike the two ratings are, on `load_rated_stories(n_samples, noise, random_state)`.

    Returns the raters' correlation; the held-out R^2 (25% test) of a ridge regression on text features
    (`method`, `svd_dims`) fitted on the pool, trained on every pool rating ("r2_llm", "r2_human") and on
    `label_counts` seeded random pool ratings ("r2_llm_20", ...); the R^2 on human ratings of the model of every
    LLM rating ("r2_llm_model_on_human"); and the seconds `featurize` took.
    """
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    from .splits import make_splits
    from .text_features import featurize

    ds = load_rated_stories(n_samples=n_samples, noise=noise, random_state=random_state)
    split = make_splits(ds.y, test_size=0.25, random_state=random_state)
    start = time.perf_counter()
    X = featurize(ds, split.pool, method=method, svd_dims=svd_dims, random_state=random_state).X
    result = {"featurize_seconds": time.perf_counter() - start,
              "correlation": float(np.corrcoef(ds.y, ds.y_target)[0, 1])}
    rng = np.random.default_rng(random_state)
    subsets = {f"_{k}": rng.choice(split.pool, k, replace=False) for k in label_counts if k < len(split.pool)}
    for rater, y in (("llm", ds.y), ("human", ds.y_target)):
        for suffix, rows in {"": split.pool, **subsets}.items():
            model = Ridge(alpha=1.0).fit(X[rows], y[rows])
            result[f"r2_{rater}{suffix}"] = float(r2_score(y[split.test], model.predict(X[split.test])))
    # The targeted task's gap: a model of the pool rater's ratings, scored on the target rater's
    on_llm = Ridge(alpha=1.0).fit(X[split.pool], ds.y[split.pool])
    result["r2_llm_model_on_human"] = float(r2_score(ds.y_target[split.test], on_llm.predict(X[split.test])))
    return result
