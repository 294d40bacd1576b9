"""``np.einsum``'s subscripts read: the sublist form
(:func:`from_sublists`) and the string form (:func:`parse_einsum`), checked
as NumPy checks them, into plain subscripts of one letter an axis, which
:mod:`tapegrad.numpy.contractions` records.

>>> parse_einsum("ii->i", [(3, 3)])
(['ii'], 'i', {'i': 3})
"""

import collections
import string

import numpy as np

_LETTERS = string.ascii_letters
_SUBLIST_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # NumPy's: 0 is 'A'


def from_sublists(operands):
    """``(subscripts, operands)`` of the sublist form ``einsum(a, [0, 1], b, [1], [0])``.

    >>> from_sublists(("a", [0, 1], "b", [1, Ellipsis], [Ellipsis, 0]))
    ('AB,B...->...A', ['a', 'b'])
    """
    def letters(sublist):
        if any(s is not Ellipsis and not (isinstance(s, (int, np.integer)) and 0 <= s < 52)
               for s in sublist):
            raise ValueError(f"numpy.einsum: sublist {sublist!r} holds other than '...' and "
                             "integers in [0, 52)")
        return "".join("..." if s is Ellipsis else _SUBLIST_LETTERS[s] for s in sublist)

    output = letters(operands[-1]) if len(operands) % 2 else None
    pairs = operands[:len(operands) - len(operands) % 2]
    arrays, subs = list(pairs[0::2]), [letters(s) for s in pairs[1::2]]
    return ",".join(subs) + ("" if output is None else "->" + output), arrays


def _labels(part, what):
    """The letters of ``part`` (one operand's or the output's subscripts)."""
    if part.count("...") > 1:
        raise ValueError(f"numpy.einsum: more than one ellipsis in the {what}")
    letters = part.replace("...", "")
    bad = [c for c in letters if c not in _LETTERS]
    if bad:
        raise ValueError(f"numpy.einsum: invalid subscript {bad[0]!r} in the {what} "
                         "(subscripts are letters a-z, A-Z and '...')")
    return letters


def parse_einsum(subscripts, shapes):
    """``(inputs, output, sizes)``: NumPy's ``subscripts`` for operands of
    ``shapes`` as plain subscripts, ``...`` spelled out in spare letters
    (right-aligned, so operands broadcast), the implicit output made
    explicit, and each label's size.

    >>> parse_einsum("...ij,jk", [(5, 2, 3), (3, 4)])
    (['aij', 'jk'], 'aik', {'a': 5, 'i': 2, 'j': 3, 'k': 4})
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"numpy.einsum: subscripts must be a string, not {type(subscripts)}")
    subscripts = subscripts.replace(" ", "")
    lhs, arrow, rhs = subscripts.partition("->")
    if "->" in rhs or "-" in lhs or ">" in lhs:
        raise ValueError(f"numpy.einsum: malformed subscripts {subscripts!r}")
    parts = lhs.split(",")
    if len(parts) != len(shapes):
        raise ValueError(f"numpy.einsum: {len(parts)} operand subscripts for "
                         f"{len(shapes)} operands")
    spare = [c for c in _LETTERS if c not in subscripts]
    spans = []
    for k, (part, shape) in enumerate(zip(parts, shapes)):
        letters = _labels(part, f"subscripts of operand {k}")
        span = len(shape) - len(letters)
        if span < 0 or (span > 0 and "..." not in part):
            raise ValueError(f"numpy.einsum: subscripts {part!r} for operand {k} of "
                             f"shape {tuple(shape)}")
        spans.append(span)
    ellipsis = "".join(spare[:max(spans)])
    inputs = [part.replace("...", ellipsis[len(ellipsis) - span:])
              for part, span in zip(parts, spans)]
    if arrow:
        letters = _labels(rhs, "output")
        if ellipsis and "..." not in rhs:
            raise ValueError("numpy.einsum: the operands have axes under '...' but the "
                             "output has no '...'")
        for c in letters:
            if letters.count(c) > 1 or c not in lhs:
                raise ValueError(f"numpy.einsum: output subscript {c!r} "
                                 f"{'repeats' if c in lhs else 'is in no input'}")
        output = rhs.replace("...", ellipsis)
    else:
        counts = collections.Counter("".join(inputs))
        output = ellipsis + "".join(sorted(c for c, n in counts.items()
                                           if n == 1 and c not in ellipsis))
    sizes = {}
    for k, (s, shape) in enumerate(zip(inputs, shapes)):
        if len({(label, n) for label, n in zip(s, shape)}) != len(set(s)):
            raise ValueError(f"numpy.einsum: operand {k} of shape {tuple(shape)} has unequal "
                             f"sizes under a repeated subscript ({s!r})")
        for label, n in zip(s, shape):
            held = sizes.setdefault(label, n)
            if n not in (1, held) and held != 1:
                raise ValueError(f"numpy.einsum: subscript {label!r} has sizes {held} and {n}; "
                                 "the operands do not broadcast")
            sizes[label] = n if held == 1 else held
    return inputs, output, sizes


__all__ = ["from_sublists", "parse_einsum"]
