"""Generated 2-D points (kerarch.data.points): XOR clusters, two moons, and their splits."""

import numpy as np

from kerarch.data.points import moons_points, xor_and_moons, xor_points


def test_xor_points_are_labelled_by_the_signs_of_their_corner():
    x, y = xor_points(2000, spread=0.0, seed=0)
    assert x.shape == (2000, 2) and x.dtype == "float32" and y.dtype == "int64"
    assert set(map(tuple, np.unique(x, axis=0))) == {(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)}
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] < 0).astype("int64"))


def test_moons_are_centred_and_balanced():
    x, y = moons_points(1000, noise=0.0, seed=0)
    assert x.dtype == "float32" and np.bincount(y).tolist() == [500, 500]
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=0.05)


def test_xor_and_moons_draw_test_points_with_the_next_seed():
    data = xor_and_moons(50, xor_spread=0.3, moons_noise=0.1, seed=4)
    assert list(data.points) == ["xor", "moons"]
    x_train, y_train = data.train("xor")
    np.testing.assert_array_equal(x_train, xor_points(50, spread=0.3, seed=4)[0])
    np.testing.assert_array_equal(data.test("moons")[0], moons_points(50, noise=0.1, seed=5)[0])
    assert data.x_train is x_train and len(data.test("xor")[1]) == 50
