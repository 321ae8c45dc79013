"""Pictures of a run: training curves and image grids (PNG, matplotlib Agg)."""

import csv
import math

import numpy as np

from kerarch.io import atomic_path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_metrics_csv(path):
    """Columns of a Keras CSVLogger file as {name: [floats]}."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    # A resumed run may repeat an epoch; its last row wins.
    rows = list({row.get("epoch", i): row for i, row in enumerate(rows)}.values())
    columns = {}
    for row in rows:
        for key, value in row.items():
            try:
                columns.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                columns.setdefault(key, []).append(math.nan)
    return columns


def plot_curves(metrics, path, *, title=None):
    """One panel per metric, training and validation (`val_`) overlaid, per epoch."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    metrics = {k: v for k, v in metrics.items() if not all(math.isnan(x) for x in v)}  # e.g. NA val_ columns
    names = [k for k in metrics if k != "epoch" and not k.startswith("val_")]
    names += [k[4:] for k in metrics if k.startswith("val_") and k[4:] not in metrics]
    if not names:
        return None
    epochs = [int(e) + 1 for e in metrics.get("epoch", range(len(next(iter(metrics.values())))))]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for key, style in ((name, "-o"), (f"val_{name}", "--s")):
            if key in metrics:
                ax.plot(epochs, metrics[key], style, markersize=3, label=key)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if name in ("learning_rate", "lr") and any(v > 0 for v in metrics.get(name, [])):
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def learning_rate_schedule(optimizer, *, points=300):
    """(steps, rates) of `optimizer`'s learning-rate schedule over the steps it has taken; None if constant."""
    import keras

    config = optimizer.get_config()["learning_rate"]
    if not isinstance(config, dict):
        return None
    schedule = keras.optimizers.schedules.deserialize(config)
    taken = int(keras.ops.convert_to_numpy(optimizer.iterations))
    steps = np.unique(np.linspace(0, max(taken, 1), points).round().astype("int64"))
    return steps, np.array([float(keras.ops.convert_to_numpy(schedule(int(step)))) for step in steps])


def plot_schedules(optimizers, path, *, epochs):
    """Step-by-step learning rate of each scheduled optimizer ({name: optimizer}), on an epoch axis; None if none."""
    curves = {name: learning_rate_schedule(optimizer) for name, optimizer in optimizers.items()}
    curves = {name: curve for name, curve in curves.items() if curve is not None}
    if not curves:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for name, (steps, rates) in curves.items():
        ax.plot(steps * epochs / max(steps[-1], 1), rates, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title("learning-rate schedule, per step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def image_grid(images, path, *, rows=None, title=None, row_labels=None):
    """Saves images (N, H, W, C) with values in [0, 1] as one grid PNG."""
    plt = pyplot()
    images = np.clip(np.asarray(images, dtype="float32"), 0.0, 1.0)
    n = len(images)
    rows = rows or int(math.sqrt(n))
    cols = math.ceil(n / rows)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9 + (0.4 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i < n:
            image = images[i]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
        if row_labels and i % cols == 0 and i // cols < len(row_labels):
            ax.set_ylabel(row_labels[i // cols], rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.2, rect=(0, 0, 1, 0.95 if title else 1))
    save_figure(fig, path)
    return path


def save_figure(fig, path):
    """Writes `fig` as a PNG atomically and closes it."""
    plt = pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
