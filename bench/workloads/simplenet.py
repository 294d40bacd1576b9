"""The seed's SimpleNet: one training step, in float64 and in float32.

``Linear(5, 25) -> Linear(25, 25) -> Linear(25, 2)`` (no activation, as in
the seed), ``CrossEntropyLoss`` and ``SGD(lr=0.01)``, full batch, on blobs
like the seed's: ``make_blobs(n, 5 features, 2 centers)`` from
``default_rng(0)``, with n = 10,000 the seed's size.  Data and initial
weights are exactly those of ``examples/simplenet.py`` at seed 0 (its
``make_blobs`` and ``SimpleNet(5, dtype, rng=0)``: PyTorch's default
initialisation drawn from one generator), cast to the workload's dtype.

A step is timed as the seed's loop body: ``zero_grad``, forward, loss,
``backward``, ``step``.  The reference is the backward pass written out by
hand in NumPy, in float64: with ``h1 = X W1' + b1``, ``h2 = h1 W2' + b2``,
``z = h2 W3' + b3`` and ``dz = (softmax(z) - onehot(y)) / n``,
``dW3 = dz' h2``, ``db3 = sum dz``, ``dh2 = dz W3``, and so on down.
"""

import numpy as np

from tapegrad.benchmark.steps import Problem, TrainingStep

SEED = 0
N_FEATURES, N_CLASSES, HIDDEN = 5, 2, 25
#: Parameter names and shapes, as ``SimpleNet.state_dict()`` names them.
SHAPES = (("net.0.weight", (HIDDEN, N_FEATURES)), ("net.0.bias", (HIDDEN,)),
          ("net.1.weight", (HIDDEN, HIDDEN)), ("net.1.bias", (HIDDEN,)),
          ("net.2.weight", (N_CLASSES, HIDDEN)), ("net.2.bias", (N_CLASSES,)))


def make_blobs(n_samples, n_features=N_FEATURES, centers=N_CLASSES, seed=SEED):
    """``examples/simplenet.py``'s ``make_blobs`` (scikit-learn's, in NumPy):
    ``(X float64, y int64)``."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-10.0, 10.0, size=(centers, n_features))
    y = np.arange(n_samples, dtype=np.int64) % centers
    X = means[y] + rng.standard_normal((n_samples, n_features))
    order = rng.permutation(n_samples)
    return X[order], y[order]


def initial_weights(dtype, seed=SEED):
    """The weights of ``SimpleNet(5, dtype, rng=seed)``: each ``Linear``
    draws its weight, then its bias, U(-1/sqrt(in), 1/sqrt(in)), from one
    generator, then casts."""
    rng = np.random.default_rng(seed)
    params = []
    for (name, shape), (_, bias_shape) in zip(SHAPES[::2], SHAPES[1::2]):
        bound = 1.0 / np.sqrt(shape[1])
        params.append((name, rng.uniform(-bound, bound, shape).astype(dtype)))
        params.append((name.replace("weight", "bias"),
                       rng.uniform(-bound, bound, bias_shape).astype(dtype)))
    return tuple(params)


def loss(params, data, F):
    """SimpleNet's forward pass and ``CrossEntropyLoss``, in any engine's ``F``."""
    w1, b1, w2, b2, w3, b3 = params
    X, y = data
    return F.cross_entropy(F.linear(F.linear(F.linear(X, w1, b1), w2, b2), w3, b3), y)


def reference(params, data):
    """Loss and gradients by the hand-written backward pass, in float64."""
    w1, b1, w2, b2, w3, b3 = (np.asarray(p, dtype=np.float64) for p in params)
    X, y = np.asarray(data[0], dtype=np.float64), data[1]
    n, rows = len(y), np.arange(len(y))
    h1 = X @ w1.T + b1
    h2 = h1 @ w2.T + b2
    z = h2 @ w3.T + b3
    top = z.max(axis=1, keepdims=True)
    e = np.exp(z - top)
    total = e.sum(axis=1, keepdims=True)
    value = np.mean(top[:, 0] + np.log(total[:, 0]) - z[rows, y])
    dz = e / total
    dz[rows, y] -= 1.0
    dz /= n
    dh2 = dz @ w3
    dh1 = dh2 @ w2
    grads = [dh1.T @ X, dh1.sum(axis=0), dh2.T @ h1, dh2.sum(axis=0), dz.T @ h2, dz.sum(axis=0)]
    return value, grads


def blas_calls(problem):
    """The step's eight products alone, as NumPy's ``@`` writes them, into
    arrays made here: three forward (``X W1'``, ``h1 W2'``, ``h2 W3'``),
    three weight gradients (``dz' h2``, ``dh2' h1``, ``dh1' X``) and two
    input gradients (``dz W3``, ``dh2 W2``; the data's is never needed).
    The gradients of the outputs are stand-ins of the right shapes; the
    products land in ``calls.outputs``, in that order."""
    w1, _, w2, _, w3, _ = problem.arrays
    X = problem.data[0]
    rng = np.random.default_rng(SEED)
    h1, h2 = X @ w1.T, (X @ w1.T) @ w2.T
    z = h2 @ w3.T
    dz, dh2, dh1 = (rng.uniform(-1e-4, 1e-4, a.shape).astype(X.dtype) for a in (z, h2, h1))
    outs = [np.empty_like(a) for a in (h1, h2, z, dh2, dh1, w3, w2, w1)]

    def calls():
        np.matmul(X, w1.T, out=outs[0])
        np.matmul(h1, w2.T, out=outs[1])
        np.matmul(h2, w3.T, out=outs[2])
        np.matmul(dz, w3, out=outs[3])
        np.matmul(dh2, w2, out=outs[4])
        np.matmul(dz.T, h2, out=outs[5])
        np.matmul(dh2.T, h1, out=outs[6])
        np.matmul(dh1.T, X, out=outs[7])

    calls.outputs = outs
    return calls


def _problem(dtype):
    def problem(n):
        X, y = make_blobs(n)
        return Problem(data=(X.astype(dtype), y), params=initial_weights(dtype))

    return problem


def _workload(dtype, rtol):
    name = np.dtype(dtype).name
    return TrainingStep(
        name=f"simplenet_{name[0]}{name[-2:]}",
        loss=loss,
        problem=_problem(dtype),
        reference=reference,
        sizes=(10_000,),
        quick_sizes=(10_000,),
        lr=0.01,
        description=f"the seed's SimpleNet, one SGD step on 5-feature blobs, {name}",
        size_name="samples",
        rtol=rtol,
        blas=blas_calls,
    )


#: float64 agrees with the float64 reference to rounding; float32 to about
#: 1e-6 of each gradient's largest entry (checked: 1e-4 leaves room).
SIMPLENET_F64 = _workload(np.float64, 1e-10)
SIMPLENET_F32 = _workload(np.float32, 1e-4)
