"""Linear evaluation of a frozen encoder: logistic regression on its features (scikit-learn)."""

import keras
import numpy as np

from kerarch.plots import pyplot, save_figure


def extract_features(encoder, images, *, batch_size=512):
    """The encoder's (N, features) output on float `images`, in inference mode.

    Eager calls batch by batch rather than `predict`, which would trace a new
    function for every encoder it meets.
    """
    batches = [encoder(images[i : i + batch_size], training=False) for i in range(0, len(images), batch_size)]
    return np.concatenate([keras.ops.convert_to_numpy(b) for b in batches]).astype("float32")


def linear_probe(train_features, train_labels, test_features, test_labels, *, max_iter=300):
    """Test accuracy of a multinomial logistic regression fit on standardised frozen features.

    Reference:
        Kolesnikov, Zhai & Beyer, "Revisiting Self-Supervised Visual
        Representation Learning", CVPR 2019 (the linear evaluation protocol).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    probe.fit(train_features, train_labels)
    return float(probe.score(test_features, test_labels))


def pca_panels(panels, labels, path, *, class_names=None, title=None):
    """One scatter per {title: (N, features)} of its first two principal components, coloured by class."""
    from sklearn.decomposition import PCA

    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), squeeze=False)
    for ax, (name, features) in zip(axes[0], panels.items()):
        points = PCA(n_components=2).fit_transform(features)
        scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7, vmin=-0.5, vmax=9.5)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    names = class_names or [str(c) for c in range(10)]
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=scatter.cmap(scatter.norm(c)), label=names[c])
               for c in sorted(set(int(c) for c in labels))]
    fig.legend(handles=handles, loc="lower center", ncol=min(10, len(handles)), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    save_figure(fig, path)
    return path
