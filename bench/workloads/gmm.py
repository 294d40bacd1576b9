"""ADBench's Gaussian mixture model objective (d = 2, k = 5, n = 1000 points).

From Microsoft's ADBench (github.com/microsoft/ADBench,
``src/python/modules/PyTorch/gmm_objective.py`` and the C++ ``gmm.h``): the
inputs are the k log-weights ``alpha``, the k means ``mu_k`` (d each) and
the k inverse-covariance factors ``icf_k`` (d (d+1)/2 each: the logs of the
diagonal of Q_k first, then its strictly lower entries column by column),
laid out in that order.  The objective is
``-n d/2 log(2 pi) + sum_i logsumexp_k(alpha_k + sum(log diag Q_k)
- 1/2 |Q_k (x_i - mu_k)|^2) - n logsumexp(alpha) + W``, with ADBench's
Wishart term ``W = sum_k (gamma^2/2 |Q_k|_F^2 - m sum(log diag Q_k))
- k (n' d log(gamma/sqrt 2) - log Gamma_d(n'/2))``, ``n' = d + m + 1``, at
ADBench's gamma = 1, m = 0.  logsumexp is written WITHOUT max subtraction
(the max is a comparison on engine scalars, not available on every engine);
at this point the exponents lie in about [-27, 1], far from overflow or
total underflow.  The data x_i are fixed (standard normal from
``default_rng(0)``); the function sees only the 30 parameters, so n cannot
change from one size to the next and the only size is n = 1000.  The point is from ``default_rng(1)``: alpha and mu
standard normal, icf uniform in [-0.5, 0.5].  The reference is a
vectorised numpy objective (max-subtracted logsumexp) with a hand-derived
analytic gradient.
"""

import math

import numpy as np

from tapegrad.benchmark.workload import Workload

D, K, N = 2, 5, 1000
T = D * (D + 1) // 2  # icf entries per component
N_PARAMS = K + K * D + K * T
GAMMA, WISHART_M = 1.0, 0
DATA = np.random.default_rng(0).standard_normal((N, D))
_DATA = [tuple(row) for row in DATA.tolist()]
#: Strictly lower entries (r, c) of Q, in icf order (column by column).
_LOWER = [(r, c) for c in range(D) for r in range(c + 1, D)]


def _log_multigamma(a, p):
    return 0.25 * p * (p - 1) * math.log(math.pi) + sum(
        math.lgamma(a + 0.5 * (1 - j)) for j in range(1, p + 1)
    )


_NW = D + WISHART_M + 1
#: The constant part: -n d/2 log(2 pi) - k (n' d log(gamma/sqrt 2) - log Gamma_d(n'/2)).
CONSTANT = -N * D * 0.5 * math.log(2.0 * math.pi) - K * (
    _NW * D * math.log(GAMMA / math.sqrt(2.0)) - _log_multigamma(0.5 * _NW, D)
)


def gmm(x, m):
    """The ADBench GMM objective of the 30 parameters (alpha, mu, icf)."""
    alphas = [x[k] for k in range(K)]
    means = [[x[K + k * D + j] for j in range(D)] for k in range(K)]
    icf = [[x[K + K * D + k * T + j] for j in range(T)] for k in range(K)]
    diag = [[m.exp(icf[k][j]) for j in range(D)] for k in range(K)]
    lower = [{rc: icf[k][D + e] for e, rc in enumerate(_LOWER)} for k in range(K)]
    base = []  # alpha_k + sum(log diag Q_k)
    for k in range(K):
        b = alphas[k]
        for j in range(D):
            b = b + icf[k][j]
        base.append(b)
    total = CONSTANT
    for point in _DATA:
        mixture = None
        for k in range(K):
            v = [point[j] - means[k][j] for j in range(D)]
            sq = None
            for r in range(D):
                z = diag[k][r] * v[r]
                for c in range(r):
                    z = z + lower[k][(r, c)] * v[c]
                sq = z**2 if sq is None else sq + z**2
            term = m.exp(base[k] - 0.5 * sq)
            mixture = term if mixture is None else mixture + term
        total = total + m.log(mixture)
    weights = m.exp(alphas[0])
    for k in range(1, K):
        weights = weights + m.exp(alphas[k])
    total = total - float(N) * m.log(weights)
    frobenius = None
    for k in range(K):
        for j in range(D):
            frobenius = diag[k][j] ** 2 if frobenius is None else frobenius + diag[k][j] ** 2
        for j in range(D, T):
            frobenius = frobenius + icf[k][j] ** 2
    total = total + (0.5 * GAMMA * GAMMA) * frobenius
    if WISHART_M != 0:
        for k in range(K):
            total = total - float(WISHART_M) * (base[k] - alphas[k])
    return total


def _logsumexp(a, axis):
    top = a.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def reference(x):
    """Vectorised value and analytic gradient (see the comments)."""
    x = np.asarray(x, dtype=np.float64)
    alphas = x[:K]
    means = x[K : K + K * D].reshape(K, D)
    icf = x[K + K * D :].reshape(K, T)
    q = icf[:, :D]
    Q = np.zeros((K, D, D))
    Q[:, np.arange(D), np.arange(D)] = np.exp(q)
    for e, (r, c) in enumerate(_LOWER):
        Q[:, r, c] = icf[:, D + e]
    v = DATA[:, None, :] - means[None, :, :]  # (n, k, d)
    z = np.einsum("krc,nkc->nkr", Q, v)  # Q_k (x_i - mu_k)
    beta = alphas + q.sum(axis=1) - 0.5 * (z**2).sum(axis=2)  # (n, k)
    lse = _logsumexp(beta, 1)
    lse_alpha = _logsumexp(alphas, 0)
    frob = (np.exp(q) ** 2).sum() + (icf[:, D:] ** 2).sum()
    value = CONSTANT + lse.sum() - N * lse_alpha + 0.5 * GAMMA**2 * frob - WISHART_M * q.sum()
    w = np.exp(beta - lse[:, None])  # responsibilities, d total / d beta
    # d beta/d alpha_k = 1; d/d alpha of -n lse(alpha) = -n softmax(alpha)
    g_alpha = w.sum(axis=0) - N * np.exp(alphas - lse_alpha)
    # d beta/d mu_k = Q_k^T z
    g_means = np.einsum("nk,krc,nkr->kc", w, Q, z)
    # d beta/d Q_k[r, c] = -z_r v_c; Q_rr = exp(q_r); prior: gamma^2 Q_rr^2, gamma^2 l, -m
    dQ = -np.einsum("nk,nkr,nkc->krc", w, z, v)
    g_icf = np.empty((K, T))
    g_icf[:, :D] = (
        w.sum(axis=0)[:, None]
        + dQ[:, np.arange(D), np.arange(D)] * np.exp(q)
        + GAMMA**2 * np.exp(2.0 * q)
        - WISHART_M
    )
    for e, (r, c) in enumerate(_LOWER):
        g_icf[:, D + e] = dQ[:, r, c] + GAMMA**2 * icf[:, D + e]
    return value, np.concatenate([g_alpha, g_means.ravel(), g_icf.ravel()])


def point(n):
    if n != N:
        raise ValueError(f"the gmm workload's data are fixed at n = {N} points, not {n}")
    rng = np.random.default_rng(1)
    alphas = rng.standard_normal(K)
    means = rng.standard_normal(K * D)
    icf = rng.uniform(-0.5, 0.5, K * T)
    return np.concatenate([alphas, means, icf])


WORKLOAD = Workload(
    name="gmm",
    function=gmm,
    point=point,
    sizes=(N,),
    quick_sizes=(N,),
    reference=reference,
    description="ADBench GMM objective, d = 2, k = 5, 1000 fixed points (30 parameters)",
    size_name="points",
    rtol=1e-8,
)
