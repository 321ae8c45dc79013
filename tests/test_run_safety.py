"""A run never loses, mixes or half-finishes work: kills at every phase, odd paths, busy folders, changed settings."""

import csv
import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from kerarch import cli
from kerarch.config import parse_overrides, to_dict
from kerarch.export import tflite_predict
from kerarch.frame import get_recipe
from kerarch.training.run import Run

KILL_AT = Path(__file__).parent / "kill_at.py"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
# 256 training examples after the 64 held out: 4 steps an epoch, 12 in all.
TINY_LENET = ["epochs=3", "batch_size=64", "validation_examples=64", "verbose=none"]
STEPS = 3 * (256 // 64)


def _kerarch(workdir, *args, kill_at=None):
    command = [sys.executable, str(KILL_AT), kill_at] if kill_at else [sys.executable, "-m", "kerarch.cli"]
    return subprocess.run([*command, *args], cwd=workdir, env=ENV, capture_output=True, text=True, timeout=600)


def _err(capsys):
    """What was printed to stderr, on one line (the CLI wraps its messages)."""
    return " ".join(capsys.readouterr().err.split())


def _metric_epochs(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _tree_digest(folder):
    """{relative path: sha256} of every file under `folder`."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _leftovers(*folders):
    return [p for folder in folders for p in Path(folder).rglob("*")
            if p.name.startswith((".tmp-", ".old-")) or ".tmp." in p.name]


def _decoy_export(workdir):
    """Another run's export under saved_models/lenet-mnist/: no run may touch it."""
    decoy = workdir / "saved_models" / "lenet-mnist" / "other-run-0123abcd"
    decoy.mkdir(parents=True)
    (decoy / "export_report.json").write_text(json.dumps({"run": {"id": "other-run-0123abcd", "dir": "/elsewhere"}}))
    (decoy / "model.tflite").write_bytes(b"not touched")
    return decoy


# A kill at an arbitrary moment of training is also test_training.py's test_killed_process_resumes.
@pytest.mark.parametrize("point", [pytest.param("epoch", marks=pytest.mark.slow), "after_row", "evaluate", "export"])
def test_a_kill_in_any_phase_resumes_to_the_same_finished_run(point, workdir, idx_dataset):
    exporting = point in ("evaluate", "export")
    args = ["run", "lenet-mnist", f"data_dir={idx_dataset}", *TINY_LENET, "run_dir=runs/r", f"export={exporting}"]
    decoy = _decoy_export(workdir)
    before = _tree_digest(decoy)

    killed = _kerarch(workdir, *args, kill_at=point)
    assert killed.returncode == -9, killed.stderr[-3000:]
    run_dir = workdir / "runs" / "r"
    state = json.loads((run_dir / "state.json").read_text())
    assert not (run_dir / "summary.json").exists()
    assert ("trained" in state["phases"]) == exporting
    metrics_after_kill = (run_dir / "metrics.csv").read_text()

    rerun = _kerarch(workdir, *args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "Resuming the interrupted run" in rerun.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert _metric_epochs(run_dir) == [0, 1, 2]  # one row per epoch
    assert summary["optimizer_iterations"] == {"optimizer": STEPS}  # as many steps as an uninterrupted run
    if exporting:  # training had finished: it is not repeated
        assert "Training finished before" in rerun.stderr
        assert (run_dir / "metrics.csv").read_text() == metrics_after_kill
        export_dir = Path(summary["export"]["dir"])
        model = keras.saving.load_model(export_dir / "model.keras")
        images = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
        np.testing.assert_allclose(model.predict(images, verbose=0), tflite_predict(export_dir / "model.tflite", images),
                                   atol=1e-4)
        assert json.loads((export_dir / "export_report.json").read_text())["run"] == summary["run"]
    assert not _leftovers(run_dir, workdir / "saved_models")
    assert not (run_dir / "backup").exists()
    assert _tree_digest(decoy) == before


def test_run_dir_dot_exports_under_its_own_id_and_keeps_other_exports(workdir, idx_dataset, capsys, monkeypatch):
    project = workdir / "d"
    project.mkdir()
    decoy = _decoy_export(project)
    before = _tree_digest(decoy)
    monkeypatch.chdir(project)
    code = cli.main(["run", "lenet-mnist", f"data_dir={idx_dataset}", "epochs=1", "steps_per_epoch=2",
                     "validation_examples=64", "verbose=none", "run_dir=."])
    assert code == 0, _err(capsys)
    summary = json.loads((project / "summary.json").read_text())
    export_dir = Path(summary["export"]["dir"])
    assert export_dir.parent == project / "saved_models" / "lenet-mnist"
    assert export_dir.name.startswith("d-") and export_dir.name == summary["run"]["id"]
    assert summary["run"]["dir"] == str(project)
    assert _tree_digest(decoy) == before


def test_runs_with_the_same_folder_name_never_share_an_export(workdir, idx_dataset, capsys):
    common = [f"data_dir={idx_dataset}", "epochs=1", "steps_per_epoch=2", "validation_examples=64", "verbose=none"]
    for where, seed in (("a", 1), ("b", 2)):
        assert cli.main(["run", "lenet-mnist", *common, f"seed={seed}", f"run_dir=x/{where}/r1"]) == 0
    exports = {where: Path(json.loads((workdir / "x" / where / "r1" / "summary.json").read_text())["export"]["dir"])
               for where in "ab"}
    assert exports["a"] != exports["b"] and exports["a"].name.startswith("r1-")
    images = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)

    def outputs(where):
        return keras.saving.load_model(exports[where] / "model.keras").predict(images, verbose=0)

    before = {where: outputs(where) for where in "ab"}
    b_files = _tree_digest(exports["b"])
    assert cli.main(["export", "x/a/r1", "format=keras"]) == 0  # the run's own model, into its own folder
    np.testing.assert_allclose(outputs("a"), before["a"], atol=1e-6)
    assert not np.allclose(before["a"], before["b"], atol=1e-3)
    assert _tree_digest(exports["b"]) == b_files

    report = exports["a"] / "export_report.json"
    stolen = {**json.loads(report.read_text()), "run": {"id": "r1-ffffffff", "dir": "/another/r1"}}
    report.write_text(json.dumps(stolen))
    kept = _tree_digest(exports["a"])
    capsys.readouterr()
    assert cli.main(["export", "x/a/r1"]) == 2
    assert "holds an export of the run in /another/r1" in _err(capsys)
    assert _tree_digest(exports["a"]) == kept


def _lenet_config(*overrides):
    return to_dict(parse_overrides(get_recipe("lenet-mnist").Config, overrides))


def test_a_busy_run_folder_is_refused_at_once(workdir, capsys):
    with Run.open("lenet-mnist", _lenet_config("run_dir=busy"), run_dir="busy"):
        state = (workdir / "busy" / "state.json").read_text()
        assert cli.main(["run", "lenet-mnist", "run_dir=busy"]) == 2
        assert f"in use by another kerarch process (pid {os.getpid()})" in _err(capsys)
        assert (workdir / "busy" / "state.json").read_text() == state


def test_resuming_with_other_settings_is_refused(workdir, capsys):
    Run.open("lenet-mnist", _lenet_config("run_dir=r"), run_dir="r").close()  # an interrupted run
    assert cli.main(["run", "lenet-mnist", "run_dir=r", "learning_rate=0.01", "activation=relu"]) == 2
    message = _err(capsys)
    assert "activation: 'tanh' in the run, 'relu' now" in message and "learning_rate: 0.001 in the run" in message
    assert cli.main(["run", "lenet-mnist", "run_dir=r", "resume=false"]) == 2
    assert "resume=false" in _err(capsys)
    with Run.open("lenet-mnist", _lenet_config("run_dir=r", "verbose=none"), run_dir="r") as run:
        assert run.resumed  # verbose cannot change the result


def test_default_runs_resume_only_a_free_matching_run(workdir):
    config = _lenet_config()
    with Run.open("lenet-mnist", config) as first:
        with Run.open("lenet-mnist", config) as second:  # the first is busy: a run of its own
            assert second.path != first.path and not second.resumed
    with Run.open("lenet-mnist", config) as again:
        assert again.resumed and again.path in (first.path, second.path)
    with Run.open("lenet-mnist", _lenet_config("epochs=3")) as other:
        assert not other.resumed


def test_failures_leave_a_resumable_run_that_does_not_train_again(workdir, idx_dataset, monkeypatch, capsys):
    args = ["run", "lenet-mnist", f"data_dir={idx_dataset}", *TINY_LENET, "export=false", "run_dir=r"]
    recipe = get_recipe("lenet-mnist")
    evaluate = recipe.evaluate

    def disk_full(self, model, data):
        raise OSError(errno.ENOSPC, "No space left on device", "runs/r/samples.png")

    monkeypatch.setattr(recipe, "evaluate", disk_full)
    assert cli.main(args) == 2
    assert "cannot write runs/r/samples.png: No space left on device" in _err(capsys)
    state = json.loads((workdir / "r" / "state.json").read_text())
    assert state["status"] == "failed" and list(state["phases"]) == ["trained"]

    def bug(self, model, data):
        raise RuntimeError("a bug")

    monkeypatch.setattr(recipe, "evaluate", bug)
    with pytest.raises(RuntimeError):  # an internal error keeps its traceback
        cli.main(args)
    assert json.loads((workdir / "r" / "state.json").read_text())["error"] == "RuntimeError: a bug"

    monkeypatch.setattr(recipe, "evaluate", evaluate)
    leftover = workdir / "r" / "checkpoints" / ".best.abcd1234.tmp.keras"
    leftover.write_bytes(b"half")
    trained = (workdir / "r" / "metrics.csv").read_text()
    assert cli.main(args) == 0
    assert "Training finished before" in (workdir / "r" / "log.txt").read_text()
    assert (workdir / "r" / "metrics.csv").read_text() == trained
    summary = json.loads((workdir / "r" / "summary.json").read_text())
    assert summary["optimizer_iterations"] == {"optimizer": STEPS} and _metric_epochs(workdir / "r") == [0, 1, 2]
    assert not leftover.exists()


@pytest.mark.parametrize("run_dir, message", [("/proc/kerarch-run", "cannot create the run folder /proc/kerarch-run"),
                                              ("a-file", "exists and is not a folder")])
def test_unusable_run_dirs_are_explained(run_dir, message, workdir, capsys):
    (workdir / "a-file").write_text("mine")
    assert cli.main(["run", "lenet-mnist", f"run_dir={run_dir}"]) == 2
    assert message in _err(capsys)
    assert (workdir / "a-file").read_text() == "mine"


def test_the_best_checkpoint_survives_a_resume(tmp_path):
    from kerarch.training.callbacks import BestCheckpoint

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "checkpoints" / "best.keras"
    first = BestCheckpoint(path, monitor="val_loss")
    first.set_model(model)
    first.on_train_begin()
    first.on_epoch_end(0, {"val_loss": 0.5})
    saved = path.read_bytes()

    backup_state = tmp_path / "backup" / "state.json"
    backup_state.parent.mkdir()
    backup_state.write_text(json.dumps({"epoch": 2, "logs": {"val_loss": 0.9}}))  # epoch 1 was committed, not better
    resumed = BestCheckpoint(path, monitor="val_loss", backup_state=backup_state)
    resumed.set_model(model)
    resumed.on_train_begin()
    resumed.on_epoch_end(2, {"val_loss": 0.7})  # worse than epoch 0: best.keras stays
    assert path.read_bytes() == saved and json.loads(path.with_suffix(".json").read_text())["epoch"] == 0

    backup_state.write_text(json.dumps({"epoch": 3, "logs": {"val_loss": 0.2}}))  # killed before best saved epoch 2
    caught_up = BestCheckpoint(path, monitor="val_loss", backup_state=backup_state)
    caught_up.set_model(model)
    caught_up.on_train_begin()
    assert json.loads(path.with_suffix(".json").read_text()) == {"epoch": 2, "monitor": "val_loss", "value": 0.2}


def test_dead_workers_temporary_folders_are_removed(tmp_path, monkeypatch):
    import fcntl
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead, alive = tmp_path / "kerarch-lenet-mnist-worker-dead", tmp_path / "kerarch-lenet-mnist-worker-alive"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / ".lock").write_text("1\n")
    holder = os.open(alive / ".lock", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with Run.open("lenet-mnist", {"epochs": 1}, chief=False) as worker:
            assert worker.path.parent == tmp_path and worker.path.exists()
        assert not worker.path.exists() and not dead.exists() and alive.exists()
    finally:
        os.close(holder)
