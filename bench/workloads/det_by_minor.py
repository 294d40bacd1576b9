"""Determinant of an ell x ell matrix by expansion by minors (cmpad's det_by_minor).

From Brad Bell's cmpad benchmark suite (github.com/bradbell/cmpad,
``xrst/algorithm.xrst`` "det_by_minor" and ``python/cmpad/det_of_minor.py``):
the input x has ell^2 entries, ``A(x)[i, j] = x[i * ell + j]``, and ``|A|``
is expanded along the first row of every minor,
``|M| = M[0,0] |M(0,0)| - M[0,1] |M(0,1)| + ...``, recursively down to 1 x 1
minors, with no memoisation: about ``3.4 ell!`` multiplies and adds, so the
op count grows factorially with ell.  (cmpad starts each sum at 0; here a
sum starts at its first term, which saves one add per minor.)  The reference
is the LU determinant ``numpy.linalg.det`` and its gradient, the adjugate
``|A| inv(A)^T`` flattened row by row.  The point is uniform in [0, 1) from
``numpy.random.default_rng(0)`` (cmpad uses its own uniform_01 generator).
"""

import numpy as np

from tapegrad.benchmark.workload import Workload

SEED = 0


def _det_of_minor(a, ell, rows, cols):
    """Determinant of the minor of A on ``rows`` x ``cols`` (tuples of indices)."""
    r0 = rows[0] * ell
    if len(rows) == 1:
        return a[r0 + cols[0]]
    sub_rows = rows[1:]
    det = a[r0 + cols[0]] * _det_of_minor(a, ell, sub_rows, cols[1:])
    for j in range(1, len(cols)):
        term = a[r0 + cols[j]] * _det_of_minor(a, ell, sub_rows, cols[:j] + cols[j + 1 :])
        if j % 2:
            det = det - term
        else:
            det = det + term
    return det


def _ell(n_entries):
    ell = int(round(n_entries**0.5))
    if ell * ell != n_entries:
        raise ValueError(f"det_by_minor needs a square number of inputs, not {n_entries}")
    return ell


def det_by_minor(x, m):
    """|A(x)| with ``A(x)[i, j] = x[i * ell + j]``, ``ell = sqrt(len(x))``."""
    ell = _ell(len(x))
    index = tuple(range(ell))
    return _det_of_minor(x, ell, index, index)


def reference(x):
    """``det(A)`` by LU and its gradient ``det(A) inv(A)^T`` (the adjugate)."""
    ell = _ell(len(x))
    a = np.asarray(x, dtype=np.float64).reshape(ell, ell)
    det = np.linalg.det(a)
    return det, (det * np.linalg.inv(a).T).ravel()


def point(ell):
    return np.random.default_rng(SEED).uniform(0.0, 1.0, ell * ell)


WORKLOAD = Workload(
    name="det_by_minor",
    function=det_by_minor,
    point=point,
    sizes=(3, 4, 5, 6, 7, 8, 9),
    quick_sizes=(3, 5, 7),
    reference=reference,
    description="cmpad det_by_minor: determinant of an ell x ell matrix by expansion by minors",
    size_name="ell",
    rtol=1e-8,
)
