"""Newton-CG with Hessian-vector products by forward over reverse.

SciPy's Newton-CG never forms the Hessian: it asks for ``H @ p``, which
``rec.hvp`` computes in one tangent and one reverse sweep of the tape.

    python examples/newton_cg.py
"""

import numpy as np
from scipy.optimize import minimize

import tapegrad as tg


def log_sum_exp_objective(x):
    """A smooth convex function: log(sum exp(a_k . x)) + |x|^2 / 2."""
    a = np.linspace(-1.0, 1.0, 3 * len(x)).reshape(3, len(x))
    terms = [tg.exp(sum(float(a[k, j]) * x[j] for j in range(len(x)))) for k in range(3)]
    return tg.log(sum(terms)) + 0.5 * sum(v * v for v in x)


def main(n=8):
    x0 = np.linspace(-2.0, 2.0, n)
    rec = tg.record(log_sum_exp_objective, x0)
    result = minimize(rec, x0, jac=rec.grad, hessp=rec.hvp, method="Newton-CG",
                      options={"xtol": 1e-12})
    print(f"Newton-CG: {result.nit} iterations, {result.nhev} Hessian-vector products, "
          f"|grad| = {np.abs(rec.grad(result.x)).max():.2e}")
    return result


if __name__ == "__main__":
    main()
