"""Kernels that replay a recorded tape: each is one call from Python.

They run the generated sweeps of :mod:`tapegrad.kernels.sweeps` (no op is named
here) and move numbers between a recording's inputs and outputs and the
tape's records.  ``outputs[k]`` is the record of output k, or -1 for an
output that is a constant; ``input_records[k]`` is the record of input k.
A kernel that replays returns the first guard whose outcome changed, or -1.
"""

import numpy as np
from numba import prange

from tapegrad.jit import kernel, parallel_kernel, rule
from tapegrad.kernels.sweeps import forward, reverse, reverse_tangent, tangent


@rule  # called only from kernels: compiled into them, not counted
def _seed(adj, outputs, weights):
    """``adj`` zeroed, then ``weights[k]`` added at output k; the last record
    to sweep from (-1 when every output is a constant)."""
    adj[:] = 0.0
    last = -1
    for k in range(len(outputs)):
        o = outputs[k]
        if o >= 0:
            adj[o] += weights[k]
            last = max(last, o)
    return last


@rule  # called only from kernels: compiled into them, not counted
def _gather(column, records, out):
    for k in range(len(records)):
        out[k] = column[records[k]]


@kernel
def evaluate(op, arg0, arg1, const, val, inputs):
    return forward(op, arg0, arg1, const, val, inputs, len(op))


@kernel
def value_and_vjp(op, arg0, arg1, const, val, inputs, adj, outputs, weights,
                  input_records, grad):
    """Replay at ``inputs``; then ``grad`` = weights . d(outputs)/d(inputs)."""
    changed = forward(op, arg0, arg1, const, val, inputs, len(op))
    if changed >= 0:
        return changed
    last = _seed(adj, outputs, weights)
    if last >= 0:
        reverse(op, arg0, arg1, const, val, adj, last)
    _gather(adj, input_records, grad)
    return -1


@kernel
def value_and_jvp(op, arg0, arg1, const, val, inputs, tan, direction, outputs, tan_out):
    """Replay at ``inputs``; then ``tan_out`` = d(outputs)/d(inputs) . direction."""
    changed = forward(op, arg0, arg1, const, val, inputs, len(op))
    if changed >= 0:
        return changed
    tangent(op, arg0, arg1, const, val, tan, direction, len(op))
    for k in range(len(outputs)):
        tan_out[k] = tan[outputs[k]] if outputs[k] >= 0 else 0.0
    return -1


@rule  # called only from kernels: compiled into them, not counted
def _hvp_at(op, arg0, arg1, const, val, tan, direction, adj, adj_tan, outputs, weights,
            input_records, grad, hv):
    tangent(op, arg0, arg1, const, val, tan, direction, len(op))
    last = _seed(adj, outputs, weights)
    adj_tan[:] = 0.0
    if last >= 0:
        reverse_tangent(op, arg0, arg1, const, val, tan, adj, adj_tan, last)
    _gather(adj, input_records, grad)
    _gather(adj_tan, input_records, hv)


@kernel
def value_grad_and_hvp(op, arg0, arg1, const, val, inputs, tan, direction, adj, adj_tan,
                       outputs, weights, input_records, grad, hv):
    """Replay at ``inputs``; then the gradient of weights . outputs, and its
    derivative along ``direction`` (the Hessian times ``direction``)."""
    changed = forward(op, arg0, arg1, const, val, inputs, len(op))
    if changed >= 0:
        return changed
    _hvp_at(op, arg0, arg1, const, val, tan, direction, adj, adj_tan, outputs, weights,
            input_records, grad, hv)
    return -1


@kernel
def hessian(op, arg0, arg1, const, val, inputs, tan, adj, adj_tan, outputs, weights,
            input_records, grad, out):
    """Replay at ``inputs``; ``out[j]`` = the Hessian times input direction j."""
    changed = forward(op, arg0, arg1, const, val, inputs, len(op))
    if changed >= 0:
        return changed
    direction = np.zeros(len(inputs))
    for j in range(out.shape[0]):
        direction[j] = 1.0
        _hvp_at(op, arg0, arg1, const, val, tan, direction, adj, adj_tan, outputs, weights,
                input_records, grad, out[j])
        direction[j] = 0.0
    return -1


@kernel
def jacobian(op, arg0, arg1, const, val, inputs, work, outputs, input_records, out):
    """Replay at ``inputs``; ``out[k, j]`` = d(output k)/d(input j), by
    reverse sweeps (one per output) or tangent sweeps (one per input),
    whichever are fewer."""
    changed = forward(op, arg0, arg1, const, val, inputs, len(op))
    if changed >= 0:
        return changed
    m, n = out.shape
    if m <= n:
        weights = np.zeros(m)
        for k in range(m):
            weights[k] = 1.0
            last = _seed(work, outputs, weights)
            if last >= 0:
                reverse(op, arg0, arg1, const, val, work, last)
            _gather(work, input_records, out[k])
            weights[k] = 0.0
    else:
        direction = np.zeros(len(inputs))
        for j in range(n):
            direction[j] = 1.0
            tangent(op, arg0, arg1, const, val, work, direction, len(op))
            for k in range(m):
                out[k, j] = work[outputs[k]] if outputs[k] >= 0 else 0.0
            direction[j] = 0.0
    return -1


@parallel_kernel
def batch_value_and_vjp(op, arg0, arg1, const, val0, points, extra, outputs, weights,
                        input_records, values, grads, changed, threads):
    """:func:`value_and_vjp` at each row of ``points`` (the trailing
    ``extra`` inputs the same for every row): output values into
    ``values[row]``, gradients into ``grads[row]``, and the first changed
    guard (or -1) into ``changed[row]``.  Rows are dealt to one chunk per
    thread (of ``threads``), in parallel; a chunk reuses its work buffers
    from row to row."""
    n_points, n = points.shape
    chunks = max(1, min(n_points, threads))
    for chunk in prange(chunks):
        val = val0.copy()
        adj = np.empty(len(op))
        inputs = np.empty(n + len(extra))
        inputs[n:] = extra
        for row in range(chunk, n_points, chunks):
            inputs[:n] = points[row]
            changed[row] = value_and_vjp(op, arg0, arg1, const, val, inputs, adj, outputs,
                                         weights, input_records, grads[row])
            for k in range(len(outputs)):
                values[row, k] = val[outputs[k]] if outputs[k] >= 0 else 0.0
            if changed[row] >= 0:
                val[:] = val0  # the recorded guards, for the next row


@kernel
def mark_live(op, arg0, arg1, live, input_code):
    """Extend ``live`` (true at the records to keep: outputs, guards,
    inputs) to every record they depend on, in one backward pass.  An input
    record's ``arg0`` is its position, not a record, and is not followed."""
    for i in range(len(op) - 1, -1, -1):
        if live[i] and op[i] != input_code:
            a0 = arg0[i]
            a1 = arg1[i]
            if a0 >= 0:
                live[a0] = True
            if a1 >= 0:
                live[a1] = True
