"""NumPy's own API on Values and Tensors: unchanged ``import numpy as np``
code records onto the tape.

``Value`` and ``Tensor`` implement NumPy's override protocols (NEP 13
``__array_ufunc__``, NEP 18 ``__array_function__``); each NumPy function
they meet is looked up in the registry of :mod:`tapegrad.core.numpy_protocol`,
which the families here fill, one file each:

* ``ufuncs``: every ufunc with a derivative, as a row of the scalar op table;
* ``statistics``: reductions and statistics (``sum``, ``prod``, ``var``, ...),
  ``quantiles`` (``median``, ``quantile``, the ``nan*`` family, ``round``) and
  ``covariances`` (``cov``, ``corrcoef``);
* ``shaping``, ``joining`` and ``indexing``: shape and indexing (``ravel``,
  ``pad``, ``concatenate``, ``split``, ``take``, ``where``, ``sort``, ``clip``, ...);
* ``contractions``: ``dot``, ``einsum``, ``tensordot``, ``kron``, ... (einsum's
  subscripts read by ``einsum_subscripts``);
* ``linalg``: ``numpy.linalg``;
* ``signal`` (``convolve``, ``correlate``, ``interp``, ``trapezoid``, ``meshgrid``)
  and ``polynomial`` (``polyval``, ``vander``, ``polyder``, ``polyfit``);
* ``metadata``: what runs on the plain values (``np.shape``, ``np.argmax``, ...);
* ``methods``: the Tensor methods NumPy's arrays have (``t.ravel()``, ...).

A NumPy function with no rule raises ``TypeError`` naming it; none turns a
Tensor into an object array.

>>> import numpy as np, tapegrad as tg
>>> x = tg.tensor([0.5, 1.5], requires_grad=True)
>>> loss = np.sum(np.exp(x) * np.array([1.0, 2.0]))
>>> loss.backward(); x.grad.round(4)
array([1.6487, 8.9634])
"""

from tapegrad.numpy import metadata, ufuncs  # noqa: F401  (the families register themselves)
from tapegrad.numpy import statistics, shaping, joining, contractions, linalg  # noqa: F401
from tapegrad.numpy import indexing  # noqa: F401  (shaping's second half)
from tapegrad.numpy import quantiles, covariances, signal, polynomial  # noqa: F401
from tapegrad.numpy import methods  # noqa: F401  (last: methods of the functions above)
