"""Which training settings are fastest for each recipe on this machine: `python benchmarks/recipe_defaults.py`.

For each recipe (all whose training is the frame's `model.fit`, or those
named with `--recipes`), one process loads the recipe's data and builds its
default model once per setting, exactly as `kerarch run` does (the recipe's
own `build_model`, `compile` and `datasets`), then times `fit` over the same
number of steps for each setting in interleaved rounds (the order rotates
every round):

- base: float32, jit_compile=false, steps_per_execution=1
- xla: jit_compile=true
- bf16: precision=mixed_bfloat16
- spe16: steps_per_execution=16 (or --spe)

Each round gives setting / base for every setting, in wall time and in
this process's CPU time (steadier when other jobs share the cores); the
table prints every round's ratios and their median (below 1: faster than
base). Speed only:
precision can change accuracy, so a precision default needs a full run as
well. Results go to benchmarks/results/recipe_defaults-<time>.json.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERARCH_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "base": ["precision=float32", "jit_compile=false", "steps_per_execution=1"],
    "xla": ["precision=float32", "jit_compile=true", "steps_per_execution=1"],
    "bf16": ["precision=mixed_bfloat16", "jit_compile=false", "steps_per_execution=1"],
    "spe": ["precision=float32", "jit_compile=false", "steps_per_execution={spe}"],
}


def fit_recipes():
    """Recipes whose training is the frame's `fit` (comparisons and searches train several models their own way)."""
    from kerarch.frame.recipe import Recipe
    from kerarch.registry import RECIPES

    return [name for name in RECIPES.names() if RECIPES.get(name).train is Recipe.train]


def prepared(name, overrides, data, folder):
    """(model compiled for one setting, its repeated training dataset, data) for recipe `name`."""
    import tensorflow as tf

    from kerarch.config import parse_overrides
    from kerarch.frame import get_recipe
    from kerarch.training.distribute import set_precision

    recipe_cls = get_recipe(name)
    config = parse_overrides(recipe_cls.Config, ["verbose=none", "export=false", *overrides])
    run = types.SimpleNamespace(path=Path(folder), export_dir=Path(folder) / "export", chief=True,
                                add_picture=lambda *args: None)
    recipe = recipe_cls(config, run, tf.distribute.get_strategy())
    data = data or recipe.load_data()
    set_precision(config.precision)
    try:
        model = recipe.build_model(data)
        recipe.compile(model, data)
    finally:
        set_precision("float32")
    train, _ = recipe.datasets(data)
    return model, train.repeat(), data


def seconds_to_fit(model, train, steps):
    """(wall seconds, CPU seconds of this process) of `steps` training steps."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(train, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_recipe(name, rounds, steps, spe):
    settings = {key: [o.format(spe=spe) for o in overrides] for key, overrides in SETTINGS.items()}
    models, data = {}, None
    with tempfile.TemporaryDirectory() as folder:
        for key, overrides in settings.items():
            model, train, data = prepared(name, overrides, data, folder)
            seconds_to_fit(model, train, 2 * spe)  # trace, compile and warm up
            models[key] = (model, train)
        times = {key: [] for key in settings}
        for r in range(rounds):
            order = list(settings)[r % len(settings):] + list(settings)[: r % len(settings)]
            for key in order:
                times[key].append(seconds_to_fit(*models[key], steps))
    result = {"steps": steps, "base_step_ms": [round(wall / steps * 1e3, 2) for wall, _ in times["base"]]}
    for clock, name in ((0, "wall"), (1, "cpu")):
        ratios = {key: [t[clock] / b[clock] for t, b in zip(times[key], times["base"])]
                  for key in settings if key != "base"}
        result[f"{name}_ratios"] = {key: [round(r, 3) for r in values] for key, values in ratios.items()}
        result[f"{name}_median"] = {key: round(statistics.median(values), 3) for key, values in ratios.items()}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", help="comma-separated recipe names (default: every recipe trained by fit)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=48, help="training steps per timing (a multiple of --spe)")
    parser.add_argument("--spe", type=int, default=16, help="steps_per_execution of the spe setting")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import keras

    keras.config.disable_interactive_logging()
    names = args.recipes.split(",") if args.recipes else fit_recipes()
    results = {}
    print(f"{'recipe, clock':<28} {'base ms/step':>8}  " + "  ".join(f"{k + ' / base':>26}" for k in SETTINGS if k != "base"))
    for name in names:
        try:
            result = measure_recipe(name, args.rounds, args.steps, args.spe)
        except Exception as error:  # a recipe whose data or model cannot be prepared here: say so, go on
            results[name] = {"error": f"{type(error).__name__}: {error}"[:300]}
            print(f"{name:<24} skipped: {results[name]['error']}", flush=True)
            continue
        results[name] = result
        for clock in ("wall", "cpu"):
            cells = [f"{result[clock + '_median'][k]:.2f} ({' '.join(f'{r:.2f}' for r in result[clock + '_ratios'][k])})"
                     for k in result[clock + "_ratios"]]
            label = f"{name if clock == 'wall' else ''} {clock}"
            print(f"{label:<28} {statistics.median(result['base_step_ms']):>8.1f}  " + "  ".join(f"{c:>26}" for c in cells),
                  flush=True)
    from kerarch.io import write_text
    out = ROOT / "benchmarks" / "results" / f"recipe_defaults-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {"settings": SETTINGS, "spe": args.spe, "rounds": args.rounds, "load": os.getloadavg(), "recipes": results}
    write_text(out, json.dumps(payload, indent=1) + "\n")
    print(f"medians of per-round ratios (each round's ratios in brackets); load average {os.getloadavg()[0]:.1f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
