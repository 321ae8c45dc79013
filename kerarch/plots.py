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


def class_scatter(points, labels, path, *, class_names, xlabel, ylabel, title):
    """Saves 2-D `points` (N, 2) as a scatter PNG coloured by int `labels`, with a legend of `class_names`."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=2, alpha=0.7)
    legend = ax.legend(*scatter.legend_elements(), title="class", fontsize=7, loc="center left",
                       bbox_to_anchor=(1.0, 0.5))
    for text, name in zip(legend.get_texts(), class_names):
        text.set_text(name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def plot_forecast(times, actual, forecasts, path, *, title):
    """A PNG of the actual values and each forecast ({name: values}) over the same time steps."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.plot(times, actual, "-o", color="black", markersize=3, label="actual")
    styles = {"model": "-", "persistence": "--", "seasonal_naive": ":"}
    for name, forecast in forecasts.items():
        ax.plot(times, forecast, styles.get(name, "-"), label=name.replace("_", " "))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    save_figure(fig, path)
    return path


def plot_variants(path, panels, *, width_ratios=None):
    """A row of panels comparing variants (a comparison recipe's picture); returns `path`.

    Each panel is a dict with a `title` and either
        lines: {variant: {label: values}}, drawn over x = 1, 2, ... (epochs, layers), one colour per
            variant, its first series solid and its second dashed; optional `xlabel` (default "epoch"),
            `ylabel`, `log` (a log y scale) and `every_x` (a tick at every x);
        bars: {group: {series: value}}, values in [0, 1] labelled in percent, a colour per series (per
            group where there is one series).
    """
    plt = pyplot()
    ratios = width_ratios or [1] * len(panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(max(8.0, 4.3 * sum(ratios)), 4.0), squeeze=False,
                             gridspec_kw={"width_ratios": ratios})
    for ax, panel in zip(axes[0], panels):
        if "lines" in panel:
            _variant_lines(ax, panel)
        else:
            _variant_bars(ax, panel["bars"])
        ax.set_title(panel["title"])
    fig.tight_layout()
    save_figure(fig, path)
    return path


def _variant_lines(ax, panel):
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    for i, series in enumerate(panel["lines"].values()):
        for (label, values), style in zip(series.items(), ("-o", "--s")):
            ax.plot(np.arange(1, len(values) + 1), values, style, color=f"C{i}", markersize=3, label=label)
            if panel.get("every_x"):
                ax.set_xticks(np.arange(1, len(values) + 1))
    ax.set_xlabel(panel.get("xlabel", "epoch"))
    ax.set_ylabel(panel.get("ylabel", ""))
    if panel.get("log"):
        ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def _variant_bars(ax, groups):
    series = list(dict.fromkeys(name for values in groups.values() for name in values))
    width = 0.8 / len(series)
    for j, name in enumerate(series):
        values = [groups[group].get(name, 0.0) for group in groups]
        colors = [f"C{i}" for i in range(len(groups))] if len(series) == 1 else f"C{j}"
        bars = ax.bar(np.arange(len(groups)) + (j - (len(series) - 1) / 2) * width, values, width=width,
                      color=colors, label=name)
        ax.bar_label(bars, labels=[f"{v:.1%}" for v in values], fontsize=7)
    ax.set_xticks(np.arange(len(groups)), list(groups), rotation=20, fontsize=8)
    ax.set_ylim(0, 1.0 if len(series) == 1 else 1.18)
    if len(series) > 1:
        ax.legend(fontsize=8, loc="upper center", ncol=len(series))


def plot_variant_curves(histories, path, *, panels, labels=None):
    """Per-epoch curves of several trained variants overlaid, one colour per variant; returns `path`.

    Args:
        histories: {variant: Keras `History.history`}.
        panels: {panel title: history keys}; of two keys (e.g. accuracy, val_accuracy) the first is drawn
            solid and the second dashed. Panels with "loss" in the title use a log scale.
        labels: {variant: legend label} (default: the variant names).
    """
    labels = labels or {}

    def label(name, key, keys):
        name = labels.get(name, name)
        return name if len(keys) == 1 else f"{name} {'validation' if key.startswith('val_') else 'train'}"

    return plot_variants(path, [
        {"title": title, "log": "loss" in title,
         "lines": {name: {label(name, key, keys): history[key] for key in keys} for name, history in histories.items()}}
        for title, keys in panels.items()
    ])


def plot_decision_boundaries(rows, path, *, resolution=200):
    """P(class 1) of 2-D binary classifiers over the plane (black line at 0.5) with their points; returns `path`.

    Args:
        rows: one list per row of panels (title, predict, points, labels): `predict` maps (N, 2) points to
            P(class 1); a panel spans its points plus a margin of 0.5.
        resolution: grid points per axis.
    """
    plt = pyplot()
    cols = max(map(len, rows))
    fig, axes = plt.subplots(len(rows), cols, figsize=(4.0 * cols, 3.75 * len(rows)), squeeze=False)
    for row, panels in zip(axes, rows):
        for ax, (title, predict, x, y) in zip(row, panels):
            low, high = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
            grid = np.stack(np.meshgrid(np.linspace(low[0], high[0], resolution),
                                        np.linspace(low[1], high[1], resolution)), -1)
            probability = np.asarray(predict(grid.reshape(-1, 2))).reshape(grid.shape[:2])
            ax.contourf(grid[..., 0], grid[..., 1], probability, levels=20, cmap="RdBu_r", vmin=0, vmax=1, alpha=0.6)
            ax.contour(grid[..., 0], grid[..., 1], probability, levels=[0.5], colors="k", linewidths=1)
            ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", s=8, edgecolors="k", linewidths=0.3)
            ax.set_title(title, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    save_figure(fig, path)
    return path


def plot_class_projections(projections, labels, path, *, class_names):
    """The same examples under several 2-D maps ({title: (N, 2) points}) side by side, coloured by class."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(projections), figsize=(5 * len(projections), 4.8), squeeze=False)
    for ax, (title, points) in zip(axes[0], projections.items()):
        for c, name in enumerate(class_names):
            ax.scatter(points[labels == c, 0], points[labels == c, 1], s=4, color=f"C{c}", label=name)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, -1].legend(fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    save_figure(fig, path)
    return path


def plot_graph_predictions(path, data, predicted, hidden, *, title, seed):
    """A node classifier's result on a small graph, two panels, saved as a PNG.

    Left: the graph (networkx's spring layout, seeded) with nodes coloured by
    predicted class, the labelled training nodes as squares in their true
    class and wrong predictions ringed in red. Right: the nodes' hidden
    representations `hidden` (N, units), themselves if 2-D, else their two
    principal components, coloured by true class, wrong ones ringed.

    Args:
        path: the PNG to write.
        data: the `kerarch.data.graphs.GraphData`.
        predicted: the predicted class of every node (N,).
        hidden: a hidden layer's output on every node (N, units).
        title: the left panel's title, e.g. "gcn: predicted faction".
        seed: seed of the layout.
    """
    import networkx as nx

    plt = pyplot()
    graph = nx.Graph(data.edge_index.T.tolist())
    positions = nx.spring_layout(graph, seed=seed)
    wrong = np.flatnonzero(predicted != data.labels)
    colours = np.array(["tab:blue", "tab:orange"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.8))
    nx.draw_networkx_edges(graph, positions, ax=left, alpha=0.3)
    nx.draw_networkx_nodes(graph, positions, ax=left, nodelist=range(data.num_nodes), node_size=260,
                           node_color=colours[predicted].tolist())
    nx.draw_networkx_nodes(graph, positions, ax=left, nodelist=data.train_index.tolist(), node_shape="s",
                           node_size=420, node_color=colours[data.labels[data.train_index]].tolist(),
                           edgecolors="black", linewidths=2.5)
    nx.draw_networkx_nodes(graph, positions, ax=left, nodelist=wrong.tolist(), node_size=520,
                           node_color="none", edgecolors="red", linewidths=2.5)
    nx.draw_networkx_labels(graph, positions, ax=left, font_size=7)
    for label, name in enumerate(data.class_names):
        left.scatter([], [], c=colours[label], s=60, label=f"predicted: {name}")
    left.legend(fontsize=8, loc="lower left")
    left.set_title(f"{title} (squares: the {len(data.train_index)} labelled nodes; red rings: {len(wrong)} wrong)",
                   fontsize=9)
    left.axis("off")
    points = _leading_components(hidden)
    for label, name in enumerate(data.class_names):
        mine = data.labels == label
        right.scatter(*points[mine].T, c=colours[label], s=60, label=f"true: {name}")
    right.scatter(*points[wrong].T, s=260, facecolors="none", edgecolors="red", linewidths=2, label="misclassified")
    for node, (x, y) in enumerate(points):
        right.annotate(str(node), (x, y), fontsize=6, ha="center", va="center")
    right.set_title("Last hidden layer of the trained network"
                    + ("" if hidden.shape[1] <= 2 else " (2 principal components)"), fontsize=9)
    right.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def _leading_components(points):
    """The points themselves if 2-D (padded if 1-D), else their projection on the two leading principal components."""
    if points.shape[1] <= 2:
        return np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    centred = points - points.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def plot_tsne_by_class(path, hidden, labels, predicted, *, class_names, title, seed):
    """A t-SNE map of hidden representations (N, units), coloured by true class, misclassified ones ringed; a PNG.

    Kipf & Welling's (2017) figure of the GCN's hidden layer. The title reads
    "<title>, t-SNE of the <N> test nodes (accuracy <share right>)".
    """
    from sklearn.manifold import TSNE

    points = TSNE(n_components=2, perplexity=min(30.0, len(hidden) - 1.0), init="pca",
                  random_state=seed).fit_transform(hidden)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 6))
    for label, name in enumerate(class_names):
        ax.scatter(*points[labels == label].T, s=8, color=plt.cm.tab10(label), label=name)
    wrong = predicted != labels
    ax.scatter(*points[wrong].T, s=22, facecolors="none", edgecolors="black", linewidths=0.5,
               label=f"misclassified ({int(wrong.sum())})")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title}, t-SNE of the {len(hidden)} test nodes (accuracy {np.mean(~wrong):.3f})", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def plot_pca_projections(embeddings, labels, path, *, class_names, seed=0):
    """`plot_class_projections` of {title: (N, features)} embeddings of the same examples, by PCA; returns `path`.

    Each embedding is projected to its first two principal components (seeded) and titled "<title> (PCA to 2-D)".
    """
    from sklearn.decomposition import PCA

    projections = {f"{title} (PCA to 2-D)": PCA(n_components=2, random_state=seed).fit_transform(vectors)
                   for title, vectors in embeddings.items()}
    return plot_class_projections(projections, labels, path, class_names=class_names)
