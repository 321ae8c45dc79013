"""The search picture: score per trial and the best so far, one colour per search strategy."""

import numpy as np

from kerarch.plots import pyplot, save_figure


def plot_search(histories, path, *, references=None, metric="validation accuracy", title=None):
    """Saves score vs trial number (dots) with the best-so-far line for each strategy.

    Args:
        histories: {strategy: its completed trials, `search_history` rows (their "trial" and "score")}.
        path: PNG to write.
        references: {label: score} drawn as dashed horizontal lines (hand-designed baselines).
        metric: y-axis label.
        title: figure title.

    Returns:
        `path`.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.4, 4.0))
    for colour, (strategy, rows) in zip(("tab:blue", "tab:orange", "tab:green", "tab:purple"), histories.items()):
        if not rows:
            continue
        trials, scores = np.asarray([(row["trial"], row["score"]) for row in rows], dtype=float).T
        ax.plot(trials, scores, "o", color=colour, alpha=0.6, label=f"{strategy}: trial")
        ax.step(trials, np.maximum.accumulate(scores), where="post", color=colour, label=f"{strategy}: best so far")
    for style, (label, score) in zip(("--", ":", "-."), (references or {}).items()):
        ax.axhline(score, linestyle=style, color="gray", label=label)
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never hides a trial
    if title:
        ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)
    return path
