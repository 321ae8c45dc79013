"""A run's folder: its identity, lock, phases, resolved config, metrics, pictures, summary and report.

    runs/<recipe>/<timestamp>/
        .lock         held (fcntl.flock) by the one process working on the run
        state.json    identity, export folder, finished phases (trained, evaluated, exported), status
        config.json   resolved config, versions, strategy, data source
        metrics.csv   one row per finished epoch (Keras CSVLogger)
        tensorboard/  TensorBoard logs
        checkpoints/  best checkpoint (best.keras, and best.json: its epoch and monitored value)
        backup/       BackupAndRestore state until the trained model is recorded
        trained.weights.h5  the trained model with its optimizer state (the run's own model)
        curves.png    loss and metric curves
        summary.json  final metrics, artifact paths, wall time (marks the run finished)
        report.md     a short report embedding the pictures

A run is trained → evaluated → exported → finished. Each phase's completion is
recorded atomically in state.json; a rerun after a kill continues from the
first unfinished phase (see `kerarch.frame.run_recipe`).
"""

import contextlib
import csv
import datetime
import errno
import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path

from kerarch.errors import KerarchError
from kerarch.io import read_json, write_csv, write_json, write_text

log = logging.getLogger("kerarch")

# Keys that cannot change what a run computes, so a run may resume across them.
RESUMABLE_ACROSS = ("run_dir", "resume", "verbose")
PHASES = ("trained", "evaluated", "exported")
STATE_FILE = "state.json"
LOCK_FILE = ".lock"
TRAINED_WEIGHTS = "trained.weights.h5"
WORKER_PREFIX = "kerarch-worker-"
# The temporary names of kerarch.io.atomic_path (".<stem>.<8 random>.tmp<suffixes>"), left behind by a kill.
_ATOMIC_LEFTOVER = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\..+)?$")


def versions():
    import keras
    import numpy
    import tensorflow as tf

    from kerarch.version import __version__

    found = {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": numpy.__version__}
    try:
        import keras_hub

        found["keras_hub"] = keras_hub.__version__
    except ImportError:
        pass
    found["kerarch"] = __version__
    found["backend"] = keras.backend.backend()
    return found


def run_identity(path):
    """{"id", "dir"} of the run in `path`: its resolved folder, and a name unique to that folder."""
    resolved = Path(path).resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return {"id": f"{resolved.name or 'run'}-{digest}", "dir": str(resolved)}


class RunBusyError(KerarchError):
    """Another process holds the run folder's lock."""


class Run:
    """The folder of one training run, locked by the process working on it; use it as a context manager."""

    def __init__(self, recipe, path, config, *, overrides=(), resumed=False, chief=True, state=None, lock=None):
        self.recipe = recipe
        self.path = Path(path)
        self.config = config
        self.overrides = list(overrides)
        self.resumed = resumed
        self.chief = chief
        self.started = time.time()
        self.info = {}
        self.created = False  # this process made the folder (so it may remove it if the run never starts)
        self.state = state or _new_state(recipe, self.path, config)
        self.pictures = [(Path(p), caption) for p, caption in self.state["pictures"]]
        self._lock = lock

    # --- identity -------------------------------------------------------------------
    @property
    def run_id(self):
        return self.state["run"]["id"]

    @property
    def identity(self):
        """{"id", "dir"}: recorded in summary.json and in the export's report."""
        return dict(self.state["run"])

    @property
    def export_dir(self):
        """saved_models/<recipe>/<run-id>/ of the directory the run was started in; only this run writes there."""
        return Path(self.state["export_dir"])

    @property
    def trained_weights(self):
        return self.path / TRAINED_WEIGHTS

    # --- opening and closing --------------------------------------------------------
    @classmethod
    def open(cls, recipe, config, *, run_dir=None, resume=True, overrides=(), chief=True):
        """Creates and locks a new run folder, or reopens an unfinished one to resume it.

        With `run_dir`, that folder: a finished run there, a busy folder (another
        process holds its lock) or an interrupted run with other settings is an
        error. Without it, the newest unfinished run of `recipe` with the same
        settings that no process holds (when `resume`), else a new folder.
        """
        if not chief:
            return cls._worker(recipe, config, overrides, run_dir=run_dir, resume=resume)
        if run_dir:
            return cls._open_at(Path(run_dir), recipe, config, overrides, resume=resume)
        if resume:
            for path in _unfinished_runs(recipe, config):
                try:
                    return cls._open_at(path, recipe, config, overrides, resume=True)
                except RunBusyError:
                    continue  # another process is working on it: start a run of our own
        return cls._open_at(_new_run_path(recipe), recipe, config, overrides, resume=True, created=True)

    @classmethod
    def reopen(cls, path):
        """Locks an existing run folder for work on its results (e.g. `kerarch export`)."""
        path = Path(path)
        if not (path / "config.json").is_file():
            raise KerarchError(f"{path} is not a run folder (no config.json). Runs live under runs/<recipe>/<timestamp>/.")
        lock = _lock(path)
        saved = read_json(path / "config.json")
        state = _read_state(path) or _new_state(saved["recipe"], path, saved["config"])
        return cls(saved["recipe"], path, saved["config"], overrides=saved.get("overrides", ()), state=state, lock=lock)

    @classmethod
    def _open_at(cls, path, recipe, config, overrides, *, resume, created=False):
        created = _make_run_folder(path) or created
        lock = _lock(path)
        try:
            if (path / "summary.json").exists():
                raise KerarchError(
                    f"run_dir {path} holds a finished run (it has summary.json). "
                    "Choose a new run_dir, or re-export it with `kerarch export`."
                )
            state = _read_state(path)
            if state is not None:
                _check_resumable(path, state, recipe, config, resume)
            run = cls(recipe, path, config, overrides=overrides, resumed=state is not None, state=state, lock=lock)
            run.created = created
            run._clean_leftovers()
            if run.resumed:
                log.info("Resuming the interrupted run %s (finished phases: %s).", path,
                         ", ".join(run.state["phases"]) or "none")
                run._drop_unbacked_epochs()
            run.state.update(status="running", error=None)
            run._save_state()
            return run
        except BaseException:
            os.close(lock)
            raise

    @classmethod
    def _worker(cls, recipe, config, overrides, *, run_dir=None, resume=True):
        """A non-chief worker's run: a private temporary folder, removed when the run closes.

        Where the chief's `run_dir` holds an interrupted run and this worker
        sees it (one machine, or a shared filesystem), the worker starts from
        a copy of its resumable state, so that all workers resume together.
        """
        _remove_stale_worker_folders()
        path = Path(tempfile.mkdtemp(prefix=f"kerarch-{recipe}-worker-"))
        lock = _lock(path)
        try:
            state = _copy_resumable_state(Path(run_dir), path) if run_dir and resume else None
            if state is not None:
                _check_resumable(run_dir, state, recipe, config, resume)
                log.info("Resuming the interrupted run %s from the chief's state.", run_dir)
        except BaseException:
            os.close(lock)
            shutil.rmtree(path, ignore_errors=True)
            raise
        run = cls(recipe, path, config, overrides=overrides, resumed=state is not None, chief=False, state=state,
                  lock=lock)
        run.created = True
        return run

    def close(self):
        """Releases the lock; a worker's temporary folder goes with it."""
        if not self.chief:
            _remove_tree(self.path)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def discard(self):
        """Removes the run folder if this process created it and nothing was trained (e.g. the data is missing)."""
        if self.created and not self.state["phases"]:
            shutil.rmtree(self.path, ignore_errors=True)

    # --- phases -----------------------------------------------------------------------
    def done(self, phase):
        return phase in self.state["phases"]

    def complete(self, phase, **results):
        """Records `phase` (and its results, and the pictures so far) as finished: one atomic write."""
        assert phase in PHASES, phase
        self.state["phases"][phase] = _now()
        self.state.update(results)
        self._save_state()
        if phase == "trained":  # trained.weights.h5 holds the training state now
            shutil.rmtree(self.path / "backup", ignore_errors=True)

    def fail(self, error):
        """Marks the run failed and resumable: the same command continues from the first unfinished phase."""
        if not self.path.is_dir():
            return  # discarded: nothing to resume
        self.state.update(status="failed", error=f"{type(error).__name__}: {error}")
        with contextlib.suppress(OSError):
            self._save_state()

    def _save_state(self):
        self.state["pictures"] = [[str(p), caption] for p, caption in self.pictures]
        write_json(self.path / STATE_FILE, self.state)

    def _clean_leftovers(self):
        """Removes the temporary files a killed process left (kerarch.io.atomic_path's)."""
        for folder, _, files in os.walk(self.path):
            for name in files:
                if _ATOMIC_LEFTOVER.match(name):
                    os.remove(os.path.join(folder, name))

    def _drop_unbacked_epochs(self):
        """Drops the metrics.csv rows of epochs after the backup: those epochs run again."""
        path = self.path / "metrics.csv"
        if self.done("trained") or not path.exists():
            return
        backup = self.path / "backup" / "state.json"
        epochs_kept = read_json(backup).get("epoch", 0) if backup.exists() else 0
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows, header = list(reader), reader.fieldnames
        kept = [row for row in rows if int(float(row["epoch"])) < epochs_kept]
        if len(kept) == len(rows):
            return
        if not kept:
            path.unlink()
            return
        write_csv(path, header, kept)

    # --- files ------------------------------------------------------------------------
    def write_config(self, **extra):
        self.info.update(extra)
        write_json(
            self.path / "config.json",
            {"recipe": self.recipe, "config": self.config, "overrides": self.overrides, "versions": versions(),
             "run": self.identity, **self.info},
        )

    def add_picture(self, path, caption):
        self.pictures.append((Path(path), caption))

    def finish(self, *, metrics, export=None, description="", optimizer_iterations=None):
        """Writes curves.png, report.md and summary.json (the last, which marks the run finished); returns the summary."""
        from kerarch.plots import plot_curves, read_metrics_csv

        metrics_csv = self.path / "metrics.csv"
        if metrics_csv.exists():
            curves = plot_curves(read_metrics_csv(metrics_csv), self.path / "curves.png", title=self.recipe)
            if curves and Path(curves) not in [p for p, _ in self.pictures]:
                self.pictures.insert(0, (Path(curves), "Training curves"))
        summary = {
            "recipe": self.recipe,
            "run_dir": str(self.path),
            "run": self.identity,
            "metrics": metrics,
            "wall_time_s": round(time.time() - self.started, 1),
            "resumed": self.resumed,
            "optimizer_iterations": optimizer_iterations or {},
            "finished": _now(),
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
        self.state["status"] = "finished"
        self._save_state()
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
    return [(entry["path"], entry["bytes"], ", ".join(_checks(entry)))
            for entry in export.get("artifacts", {}).values() if entry.get("kept", True)]


def _checks(entry):
    checks = [f"{key}={_fmt(entry[key])}" for key in ("max_abs_diff", "accuracy", "argmax_agreement") if key in entry]
    if "serve_text" in entry:  # the SavedModel's raw-string signature
        checks.append(f"serve_text max_abs_diff={_fmt(entry['serve_text']['max_abs_diff'])}")
    return checks


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _now():
    return datetime.datetime.now().isoformat(timespec="seconds")


def _new_state(recipe, path, config):
    identity = run_identity(path)
    export_dir = Path("saved_models").resolve() / recipe / identity["id"]
    return {"recipe": recipe, "run": identity, "export_dir": str(export_dir), "config": config, "phases": {},
            "pictures": [], "status": "running", "error": None}


def _read_state(path):
    state_path = Path(path) / STATE_FILE
    if not state_path.exists():
        return None
    try:
        return read_json(state_path)
    except ValueError as error:
        raise KerarchError(f"{state_path} is not valid JSON ({error}); the run folder is damaged.") from None


def _check_resumable(path, state, recipe, config, resume):
    if state.get("recipe") != recipe:
        raise KerarchError(f"run_dir {path} holds a run of {state.get('recipe')!r}, not of {recipe!r}; choose another run_dir.")
    if not resume:
        raise KerarchError(
            f"run_dir {path} holds an interrupted run, and resume=false. Run the same command without resume=false "
            "to continue it, or choose a new run_dir to start afresh."
        )
    saved, wanted = _comparable(state["config"]), _comparable(config)
    differing = sorted(key for key in set(saved) | set(wanted) if saved.get(key) != wanted.get(key))
    if differing:
        changes = "; ".join(f"{key}: {saved.get(key)!r} in the run, {wanted.get(key)!r} now" for key in differing)
        raise KerarchError(
            f"run_dir {path} holds an interrupted run with other settings ({changes}). Rerun with the run's settings "
            "to resume it, or choose a new run_dir to start a new run with these."
        )


def _comparable(config):
    # Through JSON, so tuples in memory equal the lists read back from disk.
    return json.loads(json.dumps({k: v for k, v in config.items() if k not in RESUMABLE_ACROSS}))


def _make_run_folder(path):
    """Creates `path` (and its parents); True if this call created it. OS errors become messages."""
    try:
        path.mkdir(parents=True)
        return True
    except FileExistsError:
        if not path.is_dir():
            raise KerarchError(f"run_dir {path} exists and is not a folder; choose a folder for the run.") from None
        return False
    except OSError as error:
        raise KerarchError(f"cannot create the run folder {path}: {error.strerror or error}.") from None


def _lock(path):
    """An exclusive lock on path/.lock (released by the OS when the process dies); returns its descriptor."""
    lock_path = Path(path) / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise KerarchError(f"cannot write in the run folder {path}: {error.strerror or error}.") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        if error.errno not in (errno.EAGAIN, errno.EACCES):
            raise KerarchError(f"cannot lock the run folder {path}: {error.strerror or error}.") from None
        raise RunBusyError(
            f"run folder {path} is in use by another kerarch process (pid {holder}); wait for it to finish, "
            "or choose another run_dir."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _new_run_path(recipe):
    """A new runs/<recipe>/<timestamp>[-n] folder, claimed by creating it (two runs started at once get two)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    root = Path("runs") / recipe
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise KerarchError(f"cannot create {root}: {error.strerror or error}.") from None
    suffix = 1
    while True:
        path = root / (stamp if suffix == 1 else f"{stamp}-{suffix}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            suffix += 1


def _unfinished_runs(recipe, config):
    """Unfinished runs of `recipe` with the same settings, newest first."""
    root = Path("runs") / recipe
    if not root.is_dir():
        return []
    wanted = _comparable(config)
    found = []
    for path in sorted(root.iterdir(), reverse=True):
        if (path / "summary.json").exists():
            continue
        try:
            state = _read_state(path)
        except KerarchError:
            continue
        if state is not None and _comparable(state.get("config", {})) == wanted:
            found.append(path)
    return found


def _copy_resumable_state(chief_dir, worker_dir):
    """Copies what resumes a run (state, backup, trained weights) from the chief's folder; its state, or None."""
    if (chief_dir / "summary.json").exists() or not (chief_dir / STATE_FILE).exists():
        return None
    for name in (STATE_FILE, TRAINED_WEIGHTS, "backup", "variants"):
        source = chief_dir / name
        if source.is_dir():
            shutil.copytree(source, worker_dir / name)
        elif source.exists():
            shutil.copy2(source, worker_dir / name)
    return _read_state(worker_dir)


def _remove_tree(path, attempts=5):
    """rmtree that tries again while background writers (TensorBoard's) still add files to the folder."""
    for _ in range(attempts):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return
        time.sleep(0.2)


def _remove_stale_worker_folders():
    """Removes the temporary folders of workers that died (nobody holds their lock)."""
    for folder in Path(tempfile.gettempdir()).glob("kerarch-*-worker-*"):
        try:
            fd = os.open(folder / LOCK_FILE, os.O_RDWR)
        except OSError:
            continue  # not ours, or being created
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live worker's
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
