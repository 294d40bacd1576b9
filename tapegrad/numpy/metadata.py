"""NumPy functions that read only metadata (shape, dtype) or give plain data.

They run on the plain values: ``np.shape(t)`` is ``t.shape``.  Those that
read the elements (``np.argmax``, ``np.allclose``, ...) give data with no
gradient, computed now: inside :func:`tapegrad.record` a replay does not
recompute them, and reading a traced value's elements warns once, as
``.value`` does.

>>> import numpy as np, tapegrad as tg
>>> t = tg.tensor([[1.0, 5.0, 2.0]], requires_grad=True)
>>> np.shape(t), np.ndim(t), int(np.argmax(t))
((1, 3), 2, 1)
"""

import numpy as np

from tapegrad.core.numpy_protocol import passthrough

passthrough(np.shape, np.ndim, np.size, np.result_type, np.iscomplexobj, np.isrealobj,
            np.min_scalar_type, np.can_cast, np.may_share_memory, np.shares_memory,
            family="metadata", reads=False, note="metadata: no elements read")
passthrough(np.argmax, np.argmin, np.argsort, np.argpartition, np.nonzero, np.flatnonzero,
            np.argwhere, np.count_nonzero, np.searchsorted, np.all, np.any, np.allclose,
            np.isclose, np.array_equal, np.array_equiv, np.iscomplex, np.isreal,
            np.digitize, np.histogram, np.bincount, np.unique, np.lexsort,
            family="data", reads=True, note="data: no gradient, computed at trace time")

__all__ = []
