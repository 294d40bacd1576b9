"""Minimise the extended Rosenbrock function with SciPy, gradients by replay.

The function is recorded once; every evaluation SciPy asks for is one
compiled replay of that tape (value and gradient together, ``jac=True``).

    python examples/minimize_rosenbrock.py
"""

import numpy as np
from scipy.optimize import minimize

import tapegrad as tg


def rosenbrock(x):
    return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
               for i in range(len(x) - 1))


def main(n=20):
    x0 = np.full(n, -1.0)
    rec = tg.record(rosenbrock, x0)
    result = minimize(rec.value_and_grad, x0, jac=True, method="L-BFGS-B",
                      options={"maxiter": 2000, "gtol": 1e-10})
    print(f"{len(rec)} records, {result.nfev} replays: f = {result.fun:.3e}, "
          f"max |x - 1| = {np.abs(result.x - 1.0).max():.2e}")
    return result


if __name__ == "__main__":
    main()
