"""Graph datasets: the karate club, Cora from LINQS files, the Planetoid-style split, and the baselines on them."""

import os

import numpy as np
import pytest

from kerarch.data.graph_baselines import features_only, label_propagation, node_accuracy
from kerarch.data.graphs import load_cora, load_karate_club, planetoid_style_split, row_normalize, undirected_edge_index
from kerarch.errors import KerarchError

CLASSES = ("Theory", "Neural_Networks", "Rule_Learning")


def write_tiny_cora(folder, *, per_class=20, width=12):
    """Writes cora.content and cora.cites (LINQS format): 3 classes with their own words, citing mostly their own."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = np.arange(3 * per_class) % 3
    lines = []
    for node, label in enumerate(labels):
        words = (rng.random(width) < 0.15).astype(int)
        words[4 * label + rng.integers(0, 4)] = 1
        lines.append(f"p{node}\t" + "\t".join(map(str, words)) + f"\t{CLASSES[label]}")
    (folder / "cora.content").write_text("\n".join(lines) + "\n")
    cites = []
    for node, label in enumerate(labels):
        same = np.flatnonzero(labels == label)
        for other in rng.choice(same, 2, replace=False):
            cites.append(f"p{other}\tp{node}")
    cites += ["p0\tp0", "p3\tp0", "p3\tp0", "p1\tp2"]  # a self citation, a duplicate, one across classes
    (folder / "cora.cites").write_text("\n".join(cites) + "\n")
    return folder


def test_undirected_edge_index_drops_loops_and_duplicates():
    edges = undirected_edge_index([[0, 1], [1, 0], [2, 2], [1, 2], [0, 1]], 3)
    assert edges.dtype == np.int32
    assert sorted(map(tuple, edges.T.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_karate_club_has_the_two_factions():
    data = load_karate_club()
    assert data.num_nodes == 34 and data.edge_index.shape == (2, 2 * 78)
    assert data.class_names == ("Mr. Hi", "Officer") and np.bincount(data.labels).tolist() == [17, 17]
    assert data.labels[0] == 0 and data.labels[33] == 1
    assert data.train_index.tolist() == [0, 33] and len(data.test_index) == 32 and not len(data.val_index)
    np.testing.assert_array_equal(data.features, np.eye(34))


def test_cora_from_linqs_files_with_a_planetoid_style_split(tmp_path):
    folder = write_tiny_cora(tmp_path / "cora")
    data = load_cora(tmp_path, train_per_class=3, val_size=10, test_size=20)  # the parent of cora/ works too
    assert data.num_nodes == 60 and data.num_features == 12
    assert data.class_names == ("Neural_Networks", "Rule_Learning", "Theory")  # sorted names
    assert data.source.startswith("data_dir") and str(folder) in data.source
    assert np.bincount(data.labels[data.train_index]).tolist() == [3, 3, 3]
    splits = [set(data.train_index), set(data.val_index), set(data.test_index)]
    assert [len(s) for s in splits] == [9, 10, 20] and not (splits[0] & splits[1] or splits[0] & splits[2]
                                                             or splits[1] & splits[2])
    # Every citation appears in both directions; node order follows cora.content.
    assert data.node_ids[:2] == ("p0", "p1")
    pairs = set(map(tuple, data.edge_index.T.tolist()))
    assert all((t, s) in pairs for s, t in pairs)
    np.testing.assert_allclose(row_normalize(data.features).sum(axis=1), 1.0, rtol=1e-6)


def test_cora_errors_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", os.fspath(tmp_path / "keras"))
    with pytest.raises(KerarchError) as error:
        load_cora()
    message = str(error.value)
    assert "TensorFlow Datasets has no Cora" in message and "cora.tgz" in message and "data_dir=" in message
    with pytest.raises(KerarchError, match="holds no cora.content and cora.cites"):
        load_cora(tmp_path)
    folder = write_tiny_cora(tmp_path / "keras" / "datasets" / "cora.tgz_extracted" / "cora")
    assert load_cora(train_per_class=3, val_size=10, test_size=20).source.startswith("Keras cache")
    with pytest.raises(KerarchError, match="too small for the split"):
        load_cora(folder)  # 60 nodes cannot give 140 + 500 + 1000
    with open(folder / "cora.cites", "a") as f:
        f.write("p1 nobody\n")
    with pytest.raises(KerarchError, match="paper nobody is not in"):
        load_cora(folder, train_per_class=3, val_size=10, test_size=20)
    (folder / "cora.content").write_text("p0 1 0 A\np1 1 B\n")
    with pytest.raises(KerarchError, match="same number of fields"):
        load_cora(folder)


def test_planetoid_style_split_is_seeded():
    labels = np.arange(100) % 4
    first = planetoid_style_split(labels, train_per_class=5, val_size=10, test_size=30, seed=1)
    again = planetoid_style_split(labels, train_per_class=5, val_size=10, test_size=30, seed=1)
    other = planetoid_style_split(labels, train_per_class=5, val_size=10, test_size=30, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_baselines_on_the_karate_club():
    data = load_karate_club()
    # The graph carries the factions from the two labelled nodes; one-hot ids alone carry nothing.
    assert node_accuracy(label_propagation(data), data.labels, data.test_index) > 0.9
    assert node_accuracy(features_only(data), data.labels, data.test_index) == 0.5
