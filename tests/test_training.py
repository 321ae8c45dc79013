import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerarch
from kerarch.errors import KerarchError
from kerarch.frame import get_recipe, run_recipe
from kerarch.frame.recipe import optimizer_iterations
from kerarch.generative.adversarial import GAN
from kerarch.training import make_strategy
from kerarch.training.callbacks import SyncReplicaState
from kerarch.training.distribute import split_cpu


def _one_step(strategy, x, y):
    keras.utils.set_random_seed(7)
    with strategy.scope():
        model = kerarch.build("lenet5")
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x))
    history = model.fit(dataset, epochs=1, verbose=0)
    return history.history["loss"][0], model.get_weights()


def test_mirrored_step_equals_one_device_step():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(32, 28, 28, 1)).astype("float32"), rng.integers(0, 10, size=32)
    mirrored = make_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2
    loss_2, weights_2 = _one_step(mirrored, x, y)
    loss_1, weights_1 = _one_step(tf.distribute.get_strategy(), x, y)
    assert loss_2 == pytest.approx(loss_1, rel=1e-5)
    for w2, w1 in zip(weights_2, weights_1):
        np.testing.assert_allclose(w2, w1, rtol=1e-4, atol=1e-6)
    # The step really changed the weights (the check above is not trivially true).
    keras.utils.set_random_seed(7)
    assert not np.allclose(kerarch.build("lenet5").get_weights()[0], weights_1[0])


def test_auto_strategy_and_device_split_errors():
    assert make_strategy("auto", devices=2).num_replicas_in_sync == 2
    assert make_strategy("auto").num_replicas_in_sync == 1
    with pytest.raises(KerarchError, match="must be set before TensorFlow starts"):
        split_cpu(4)
    with pytest.raises(KerarchError, match="Unknown strategy"):
        make_strategy("parameter_server")


def test_multi_worker_without_tf_config_is_explained(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(KerarchError, match="TF_CONFIG"):
        make_strategy("multi_worker")


def test_gan_train_step_under_two_replicas():
    strategy = make_strategy("mirrored")
    with strategy.scope():
        gan = GAN(
            kerarch.build("dcgan_generator", latent_dim=8, filters=4),
            kerarch.build("dcgan_discriminator", filters=4),
            latent_dim=8,
            seed=1,
        )
        gan.compile(g_optimizer=keras.optimizers.Adam(1e-3), d_optimizer=keras.optimizers.Adam(1e-3))
    before = [w.copy() for w in gan.generator.get_weights()]
    images = np.random.default_rng(0).uniform(-1, 1, size=(64, 28, 28, 1)).astype("float32")
    history = gan.fit(
        tf.data.Dataset.from_tensor_slices(images).batch(32, drop_remainder=True),
        epochs=1, verbose=0, callbacks=[SyncReplicaState()],
    )
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(history.history)
    assert optimizer_iterations(gan) == {"g_optimizer": 2, "d_optimizer": 2}
    assert any(not np.allclose(a, b) for a, b in zip(before, gan.generator.get_weights()))

    # BatchNorm moving statistics agree across replicas after the epoch
    # (SyncReplicaState), so distributed predict() equals a plain call.
    z = np.random.default_rng(1).normal(size=(16, 8)).astype("float32")
    np.testing.assert_allclose(gan.generator.predict(z, verbose=0), np.asarray(gan.generator(z)), atol=1e-6)

    # Each replica draws its own noise.
    noise = strategy.run(tf.function(lambda: gan.sample_noise(4)))
    first, second = (np.asarray(v) for v in strategy.experimental_local_results(noise))
    assert not np.allclose(first, second)


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _metric_epochs(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize("recipe, extra", [("lenet-mnist", ["validation_examples=64"]), ("gan-mnist", ["filters=4", "latent_dim=8"])])
def test_interrupted_run_resumes_at_the_right_epoch(recipe, extra, workdir, idx_dataset, monkeypatch):
    args = [f"data_dir={idx_dataset}", "epochs=3", "batch_size=64", "export=false", "verbose=none", *extra]
    recipe_cls = get_recipe(recipe)
    original = recipe_cls.callbacks
    monkeypatch.setattr(recipe_cls, "callbacks", lambda self, m, d: original(self, m, d) + [_Interrupt(2)])
    with pytest.raises(KeyboardInterrupt):
        run_recipe(recipe, args)
    (run_dir,) = (workdir / "runs" / recipe).iterdir()
    state = json.loads((run_dir / "backup" / "state.json").read_text())
    assert state["epoch"] == 2
    assert not (run_dir / "summary.json").exists()

    monkeypatch.setattr(recipe_cls, "callbacks", original)
    summary = run_recipe(recipe, args)
    assert summary["resumed"] and summary["run_dir"] == str(run_dir.relative_to(workdir))
    assert _metric_epochs(run_dir) == [0, 1, 2]
    steps = 256 // 64 if recipe == "lenet-mnist" else 320 // 64
    # Optimizer state came back: 3 epochs of steps in all, not 1 epoch's worth.
    assert set(summary["optimizer_iterations"].values()) == {3 * steps}
    assert not (run_dir / "backup").exists()


def test_killed_process_resumes(workdir, idx_dataset):
    """SIGKILL at an arbitrary moment after the first epoch; the same command resumes."""
    command = [
        sys.executable, "-m", "kerarch.cli", "run", "lenet-mnist", f"data_dir={idx_dataset}",
        "epochs=20", "batch_size=32", "validation_examples=32", "export=false", "verbose=none",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    state_files = []
    while time.time() < deadline and not state_files:
        state_files = list((workdir / "runs").glob("lenet-mnist/*/backup/state.json"))
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert state_files, "the run never backed up an epoch"
    killed_at = json.loads(state_files[0].read_text())["epoch"]
    assert 1 <= killed_at < 20

    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Resuming the interrupted run" in result.stderr
    run_dir = state_files[0].parent.parent
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["optimizer_iterations"]["optimizer"] == 20 * (288 // 32)
    assert sorted(set(_metric_epochs(run_dir))) == list(range(20))


def _free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _kerarch_command():
    """The README's `.venv/bin/kerarch`: the console script next to this Python, else `python -m kerarch.cli`."""
    script = os.path.join(os.path.dirname(sys.executable), "kerarch")
    return [script] if os.access(script, os.X_OK) else [sys.executable, "-m", "kerarch.cli"]


def _run_workers(workdir, command, tmp, *, until=None):
    """Runs `command` as two workers on 127.0.0.1 (TMPDIR `tmp`); kills both once `until()` holds. Returns their logs."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers, logs = [], []
    try:
        for index in range(2):
            env = {**os.environ, "TMPDIR": str(tmp), "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                   "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
            logs.append(workdir / f"worker{index}.log")
            with open(logs[-1], "w") as out:  # files, not pipes: a full pipe would stall a worker
                workers.append(subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT))
        deadline = time.time() + 600
        while until is not None and time.time() < deadline and not until():
            time.sleep(0.05)
        for worker in workers:
            if until is not None:
                worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=max(1.0, deadline - time.time()))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    return [w.returncode for w in workers], [log.read_text() for log in logs]


def _multi_worker_command(idx_dataset, *extra):
    """The README's "Many machines" localhost command (tiny data and sizes)."""
    return [*_kerarch_command(), "run", "lenet-mnist", "strategy=multi_worker", "run_dir=runs/local-run",
            "batch_size=64", "train_examples=256", "validation_examples=64", f"data_dir={idx_dataset}", "verbose=none",
            *extra]


@pytest.mark.slow
def test_multi_worker_two_processes_on_localhost(workdir, idx_dataset):
    """The README's "Many machines" command, two workers on 127.0.0.1, export on."""
    tmp = workdir / "worker-tmp"  # the workers' TMPDIR: non-chief workers write to a temporary folder there
    tmp.mkdir()
    codes, outputs = _run_workers(workdir, _multi_worker_command(idx_dataset, "epochs=2"), tmp)
    assert codes == [0, 0], outputs[0][-3000:] + "\n-----\n" + outputs[1][-3000:]

    run_dir = workdir / "runs" / "local-run"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["strategy"]["strategy"] == "MultiWorkerMirroredStrategy"
    assert config["strategy"]["replicas"] == 2
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["optimizer_iterations"]["optimizer"] == 2 * (256 // 64)
    export_dir = workdir / summary["export"]["dir"]  # relative to the working folder, or absolute
    for artifact in ("model.keras", "saved_model", "model.tflite"):
        assert (export_dir / artifact).exists(), f"{artifact} missing from {export_dir}"
    # The non-chief worker used our TMPDIR (its run folder was there) and removed its folder.
    assert f"{tmp}{os.sep}kerarch-lenet-mnist-worker-" in outputs[1]
    assert not list(tmp.glob("kerarch-*-worker-*")), sorted(p.name for p in tmp.iterdir())


@pytest.mark.slow
def test_killed_multi_worker_run_resumes_on_every_worker(workdir, idx_dataset):
    """Both workers killed after an epoch's backup; the same commands resume together and finish."""
    tmp = workdir / "worker-tmp"
    tmp.mkdir()
    command = _multi_worker_command(idx_dataset, "epochs=4", "export=false")
    backup = workdir / "runs" / "local-run" / "backup" / "state.json"
    codes, outputs = _run_workers(workdir, command, tmp, until=lambda: backup.exists())
    assert codes == [-signal.SIGKILL] * 2, outputs[0][-3000:]
    epochs_done = json.loads(backup.read_text())["epoch"]
    assert 1 <= epochs_done < 4

    codes, outputs = _run_workers(workdir, command, tmp)
    assert codes == [0, 0], outputs[0][-3000:] + "\n-----\n" + outputs[1][-3000:]
    assert "from the chief's state" in outputs[1]
    run_dir = workdir / "runs" / "local-run"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed"] and summary["optimizer_iterations"]["optimizer"] == 4 * (256 // 64)
    assert _metric_epochs(run_dir) == [0, 1, 2, 3]
    assert not list(tmp.glob("kerarch-*-worker-*")), sorted(p.name for p in tmp.iterdir())


def test_a_resumed_csv_log_with_a_new_key_keeps_its_columns_aligned(tmp_path):
    from kerarch.training.callbacks import AlignedCSVLogger
    from kerarch.plots import read_metrics_csv

    path = tmp_path / "metrics.csv"
    path.write_text("epoch,accuracy,loss,val_loss\n0,0.5,1.5,1.6\n1,0.6,1.2,1.3\n")
    logger = AlignedCSVLogger(str(path), append=True)
    logger.on_train_begin()
    logger.on_epoch_end(2, {"accuracy": 0.7, "learning_rate": 0.01, "loss": 1.0, "val_loss": 1.1})
    logger.on_epoch_end(3, {"accuracy": 0.8, "learning_rate": 0.005, "loss": 0.9, "val_loss": 1.0})
    logger.on_train_end()
    assert path.read_text().splitlines()[:2] == ["epoch,accuracy,learning_rate,loss,val_loss", "0,0.5,NA,1.5,1.6"]
    columns = read_metrics_csv(path)
    assert columns["loss"] == [1.5, 1.2, 1.0, 0.9] and columns["val_loss"] == [1.6, 1.3, 1.1, 1.0]
    assert columns["learning_rate"][2:] == [0.01, 0.005] and all(math.isnan(v) for v in columns["learning_rate"][:2])
