"""What the sample-weight tests of every family share: weights over four decades with a tenth 0,
and a fold of arrays in uneven batches (empty ones included), each with its slice of weights."""

import numpy as np


def spread_weights(rng, n):
    """A tenth of weights 0, the rest spread over four decades."""
    return np.where(rng.random(n) < 0.1, 0.0, 10.0 ** rng.uniform(-2, 2, size=n))


def fold(ev, p, t, w, sizes, **kw):
    """ev.update over consecutive batches of `sizes` rows (w may be None), then compute()."""
    start = 0
    for size in sizes:
        ev.update(p[start:start + size], t[start:start + size],
                  weight=None if w is None else w[start:start + size], **kw)
        start += size
    return ev.compute()


def rel(got, want):
    return abs(got - want) / max(abs(want), 1e-300)
