"""A 2-D t-SNE map of scored rows for the Explore scatter plot.

What is embedded: the model's *input features* (the standardized feature vectors the
autoencoder reconstructs), not its 16-d latent code. The map should show how flagged mail
differs from normal mail in terms an analyst can check (sender rarity, recipients, subject
shape, time), and the latent code is exactly where the autoencoder squeezes unusual rows
towards the normal ones it learned — anomalies tend to collapse into the crowd there.

Large inputs are sampled: every flagged row is kept (up to the cap), the rest of the cap
is filled with a seeded random sample of the other rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.manifold import TSNE

DEFAULT_MAX_POINTS = 3000


def sample_for_map(flagged: np.ndarray, max_points: int = DEFAULT_MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Positions to embed: all flagged rows (up to the cap) plus a random sample of the rest."""
    flagged = np.asarray(flagged, dtype=bool)
    rng = np.random.default_rng(seed)
    hits = np.flatnonzero(flagged)
    others = np.flatnonzero(~flagged)
    if len(hits) >= max_points:
        return np.sort(rng.choice(hits, max_points, replace=False))
    room = max_points - len(hits)
    if len(others) > room:
        others = rng.choice(others, room, replace=False)
    return np.sort(np.concatenate([hits, others]))


def tsne_map(
    features: np.ndarray,
    flagged: np.ndarray,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
    seed: int = 0,
    perplexity: float = 30.0,
) -> pd.DataFrame:
    """2-D t-SNE coordinates: a frame with ``position`` (row in ``features``), ``x``, ``y``."""
    positions = sample_for_map(flagged, max_points, seed)
    X = np.asarray(features, dtype=np.float32)[positions]
    if len(positions) < 5:
        xy = np.zeros((len(positions), 2))
    else:
        tsne = TSNE(
            n_components=2,
            perplexity=min(perplexity, (len(positions) - 1) / 3),
            init="pca",
            random_state=seed,
            n_jobs=2,
        )
        xy = tsne.fit_transform(X)
    return pd.DataFrame({"position": positions, "x": xy[:, 0], "y": xy[:, 1]})
