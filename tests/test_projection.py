import numpy as np

from core.projection import sample_for_map, tsne_map


def test_sample_keeps_every_flagged_row_under_the_cap():
    flagged = np.zeros(10_000, dtype=bool)
    flagged[::100] = True
    picked = sample_for_map(flagged, max_points=500, seed=1)
    assert len(picked) == 500 and set(np.flatnonzero(flagged)) <= set(picked)
    assert np.array_equal(picked, sample_for_map(flagged, max_points=500, seed=1))


def test_sample_caps_flagged_rows_too():
    picked = sample_for_map(np.ones(1000, dtype=bool), max_points=100)
    assert len(picked) == 100 and len(set(picked)) == 100


def test_tsne_map_is_seeded_and_two_dimensional():
    rng = np.random.default_rng(0)
    features = np.vstack([rng.normal(0, 1, (150, 6)), rng.normal(8, 1, (10, 6))])
    flagged = np.r_[np.zeros(150, bool), np.ones(10, bool)]
    a = tsne_map(features, flagged, max_points=120, seed=0)
    b = tsne_map(features, flagged, max_points=120, seed=0)
    assert list(a.columns) == ["position", "x", "y"] and len(a) == 120
    np.testing.assert_allclose(a[["x", "y"]], b[["x", "y"]])
    assert set(range(150, 160)) <= set(a["position"])


def test_tsne_map_handles_tiny_inputs():
    assert len(tsne_map(np.zeros((3, 4)), np.array([True, False, False]))) == 3
