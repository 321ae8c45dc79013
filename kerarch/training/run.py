"""A run's folder: resolved config, metrics, pictures, summary and report.

    runs/<recipe>/<timestamp>/
        config.json   resolved config, versions, strategy, data source
        metrics.csv   one row per epoch (Keras CSVLogger)
        tensorboard/  TensorBoard logs
        checkpoints/  best checkpoint
        backup/       BackupAndRestore state while the run is unfinished
        curves.png    loss and metric curves
        summary.json  final metrics, artifact paths, wall time (marks the run finished)
        report.md     a short report embedding the pictures
"""

import datetime
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from kerarch.errors import KerarchError
from kerarch.io import read_json, write_json, write_text

log = logging.getLogger("kerarch")

# Keys that do not change what a run computes, so a run may resume across them.
_PRESENTATION_KEYS = ("run_dir", "resume", "verbose", "export", "quantize")


def versions():
    import keras
    import numpy
    import tensorflow as tf

    found = {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": numpy.__version__}
    try:
        import keras_hub

        found["keras_hub"] = keras_hub.__version__
    except ImportError:
        pass
    import kerarch

    found["kerarch"] = kerarch.__version__
    found["backend"] = keras.backend.backend()
    return found


class Run:
    """The folder of one training run and the files written into it."""

    def __init__(self, recipe, path, config, *, overrides=(), resumed=False, chief=True):
        self.recipe = recipe
        self.path = Path(path)
        self.config = config
        self.overrides = list(overrides)
        self.resumed = resumed
        self.chief = chief
        self.started = time.time()
        self.pictures = []
        self.info = {}
        self.created = False  # this process made the folder (so it may remove it if the run never starts)

    @property
    def run_id(self):
        return self.path.name

    @property
    def export_dir(self):
        return Path("saved_models") / self.recipe / self.run_id

    @property
    def backup_state(self):
        """backup/state.json: while it exists the run is unfinished and `Run.open` resumes it."""
        return _backup_state(self.path)

    def mark_unfinished(self, **state):
        """Makes the run resumable for work that keeps its own state outside Keras's `fit` (e.g. a search)."""
        write_json(self.backup_state, {"in_progress": True, **state})

    def clear_backup(self):
        """Removes backup/ once the resumable work is done."""
        shutil.rmtree(self.backup_state.parent, ignore_errors=True)

    @classmethod
    def open(cls, recipe, config_dict, *, run_dir=None, resume=True, overrides=(), chief=True):
        """Creates a new run folder, or reopens an unfinished one to resume it."""
        if not chief:
            path = Path(tempfile.mkdtemp(prefix=f"kerarch-{recipe}-worker-"))
            return cls(recipe, path, config_dict, overrides=overrides, chief=False)
        if run_dir:
            path = Path(run_dir)
            if (path / "summary.json").exists():
                raise KerarchError(
                    f"run_dir {path} holds a finished run (it has summary.json). "
                    "Choose a new run_dir, or re-export it with `kerarch export`."
                )
            resumed = _backup_state(path).exists()
        else:
            path = _find_resumable(recipe, config_dict) if resume else None
            resumed = path is not None
            path = path or _new_run_path(recipe)
        created = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        if resumed:
            log.info("Resuming the interrupted run %s.", path)
        run = cls(recipe, path, config_dict, overrides=overrides, resumed=resumed)
        run.created = created
        return run

    def discard(self):
        """Removes the run folder if this process created it and nothing was trained (e.g. the data is missing)."""
        if self.created and self.chief:
            shutil.rmtree(self.path, ignore_errors=True)

    def write_config(self, **extra):
        self.info.update(extra)
        write_json(
            self.path / "config.json",
            {"recipe": self.recipe, "config": self.config, "overrides": self.overrides, "versions": versions(), **self.info},
        )

    def add_picture(self, path, caption):
        self.pictures.append((Path(path), caption))

    def finish(self, *, metrics, export=None, description="", optimizer_iterations=None):
        """Writes curves.png, summary.json and report.md; returns the summary."""
        from kerarch.training.plots import plot_curves, read_metrics_csv

        metrics_csv = self.path / "metrics.csv"
        if metrics_csv.exists():
            curves = plot_curves(read_metrics_csv(metrics_csv), self.path / "curves.png", title=self.recipe)
            if curves:
                self.pictures.insert(0, (Path(curves), "Training curves"))
        summary = {
            "recipe": self.recipe,
            "run_dir": str(self.path),
            "metrics": metrics,
            "wall_time_s": round(time.time() - self.started, 1),
            "resumed": self.resumed,
            "optimizer_iterations": optimizer_iterations or {},
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
            "artifacts": {
                "config": str(self.path / "config.json"),
                "metrics_csv": str(metrics_csv),
                "report": str(self.path / "report.md"),
                "pictures": [str(p) for p, _ in self.pictures],
            },
        }
        if export is not None:
            summary["export"] = export
        write_text(self.path / "report.md", self._report(summary, description))
        write_json(self.path / "summary.json", summary)
        return summary

    def _report(self, summary, description):
        args = " ".join(self.overrides)
        lines = [
            f"# {self.recipe} — run {self.run_id}",
            "",
            description,
            "",
            f"Reproduce: `make recipe NAME={self.recipe}" + (f' ARGS="{args}"`' if args else "`"),
            "",
            f"Wall time: {summary['wall_time_s']} s"
            + (" (this process; the run was resumed)" if self.resumed else "")
            + f". Strategy: {self.info.get('strategy', {}).get('strategy', '?')}"
            f" with {self.info.get('strategy', {}).get('replicas', '?')} replica(s)."
            f" Data: {self.info.get('data_source', '?')}.",
            "",
        ]
        lines += _training_lines(self.info.get("training"))
        if self.info.get("data_notice"):
            lines += [f"> **Note:** {self.info['data_notice']}", ""]
        lines += [
            "## Results",
            "",
            "| metric | value |",
            "| --- | --- |",
        ]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in summary["metrics"].items()]
        for path, caption in self.pictures:
            lines += ["", f"## {caption}", "", f"![{caption}]({os.path.relpath(path, self.path)})"]
        export = summary.get("export")
        if export:
            lines += ["", "## Export", "", f"Folder: `{export.get('dir', '')}` (details: export_report.json there)", ""]
            lines += ["| file | bytes | checked against the Keras model |", "| --- | --- | --- |"]
            lines += [f"| {path} | {size:,} | {check} |" for path, size, check in export_rows(export)]
        return "\n".join(lines) + "\n"


def _training_lines(training):
    """Report lines naming the resolved optimizer(s) and loss."""
    if not training:
        return []
    lines = [f"Optimizer `{name}`: {_inline(described)}." for name, described in training["optimizers"].items()]
    if training.get("loss") is not None:
        lines.append(f"Loss: {_inline(training['loss'])}.")
    return [" ".join(lines), ""] if lines else []


def _inline(described):
    if isinstance(described, dict):
        return ", ".join(f"{k}={_inline(v)}" if not isinstance(v, dict) else f"{k}=({_inline(v)})"
                         for k, v in described.items())
    return str(described)


def export_rows(export):
    """(file, bytes, checks) for each exported artifact of an export report."""
    keys = ("max_abs_diff", "accuracy", "argmax_agreement")
    return [
        (entry["path"], entry["bytes"], ", ".join(f"{k}={_fmt(entry[k])}" for k in keys if k in entry))
        for entry in export.get("artifacts", {}).values()
        if entry.get("kept", True)
    ]


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _backup_state(run_path):
    return Path(run_path) / "backup" / "state.json"


def _new_run_path(recipe):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / recipe / stamp
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path("runs") / recipe / f"{stamp}-{suffix}"
    return path


def _find_resumable(recipe, config_dict):
    """The newest unfinished run of `recipe` whose config matches, if any."""
    root = Path("runs") / recipe
    if not root.is_dir():
        return None
    wanted = _comparable(config_dict)
    for path in sorted(root.iterdir(), reverse=True):
        if (path / "summary.json").exists() or not _backup_state(path).exists():
            continue
        try:
            saved = read_json(path / "config.json")["config"]
        except (OSError, ValueError, KeyError):
            continue
        if _comparable(saved) == wanted:
            return path
    return None


def _comparable(config_dict):
    # Through JSON, so tuples in memory equal the lists read back from disk.
    return json.loads(json.dumps({k: v for k, v in config_dict.items() if k not in _PRESENTATION_KEYS}))
