"""Import time of kerarch against keras-hub's: `python benchmarks/import_time.py [--repeats 7]`.

Each measurement is a fresh Python process (KERAS_BACKEND=jax unless set)
that times one statement with `time.perf_counter` (interpreter start-up
excluded); the statements run in interleaved rounds, so a machine's load
drifts over all of them alike, and the medians are reported. The goal
(issue 15): `import kerarch` within 1.25x `import keras_hub`.

Statements:
- import_kerarch: `import kerarch` (the registries, nothing built).
- kerarch_list: `import kerarch; kerarch.list_builders()` (names from the source index).
- kerarch_cli_list: the `kerarch list` command's work, output discarded.
- kerarch_lenet5: `import kerarch; kerarch.BUILDERS.get("lenet5")`: Keras and the vision
  family, what a first `kerarch.build("lenet5")` costs before building.
- kerarch_all_families: every builder looked up, so every family imported (Keras,
  keras-hub, TensorFlow for the self-supervised augmentations, keras-tuner for NAS).
- import_keras: `import keras`.
- import_keras_hub: `import keras_hub`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

GOAL = 1.25
STATEMENTS = {
    "import_kerarch": "import kerarch",
    "kerarch_list": "import kerarch; kerarch.list_builders()",
    "kerarch_cli_list": "import contextlib, io; from kerarch import cli\n"
                        "with contextlib.redirect_stdout(io.StringIO()): cli.main(['list'])",
    "kerarch_lenet5": "import kerarch; kerarch.BUILDERS.get('lenet5')",
    "kerarch_all_families": "import kerarch; [kerarch.BUILDERS.get(n) for n in kerarch.list_builders()]",
    "import_keras": "import keras",
    "import_keras_hub": "import keras_hub",
}
_TIMER = "import time\n_start = time.perf_counter()\n{statement}\nprint(time.perf_counter() - _start)\n"


def time_statement(statement, env):
    """Seconds one fresh process takes to run `statement`."""
    result = subprocess.run([sys.executable, "-c", _TIMER.format(statement=statement)], capture_output=True,
                            text=True, env=env, timeout=600, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def import_time(repeats=7, statements=STATEMENTS):
    """Median seconds per statement over `repeats` interleaved rounds, and the kerarch / keras_hub ratios."""
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    times = {name: [] for name in statements}
    for _ in range(repeats):
        for name, statement in statements.items():
            times[name].append(time_statement(statement, env))
    medians = {name: round(statistics.median(values), 4) for name, values in times.items()}
    hub = medians["import_keras_hub"]
    return {
        "backend": env["KERAS_BACKEND"],
        "repeats": repeats,
        "median_s": medians,
        "ratio_to_keras_hub": {name: round(t / hub, 3) for name, t in medians.items() if name != "import_keras_hub"},
        "goal_ratio": GOAL,
        "within_goal": medians["import_kerarch"] <= GOAL * hub,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds (default 7)")
    args = parser.parse_args()
    results = import_time(args.repeats)
    print(json.dumps(results, indent=2))
    return 0 if results["within_goal"] else 1


if __name__ == "__main__":
    sys.exit(main())
