"""The README's table of the NumPy functions tapegrad records, from the registry.

``markdown()`` renders :data:`tapegrad.core.numpy_protocol.TABLE` (one row
per NumPy name, in the order the families registered them) as a Markdown
table, one line per family; ``python -m tapegrad numpy-table`` prints it and
a test keeps the README's copy equal to it.

>>> print(markdown().splitlines()[0])
| family | NumPy functions on Values and Tensors |
"""

from tapegrad.core.numpy_protocol import TABLE

#: How each family is titled, in the order the table lists them.
FAMILIES = {
    "ufuncs": "ufuncs (rows of the scalar op table)",
    "statistics": "reductions and statistics",
    "shaping": "shape and indexing",
    "contractions": "contractions",
    "linalg": "`numpy.linalg`",
    "signal": "signals and interpolation",
    "polynomial": "polynomials (`np.poly*`)",
    "metadata": "metadata only (run on the values)",
    "data": "plain data, no gradient (run on the values)",
}


def _short(name):
    name = name.removeprefix("numpy.")
    return f"`{name}`"


def markdown():
    """The table (see the module docstring)."""
    names = {}
    for row in TABLE:  # a later registration of a name replaces an earlier one
        names.setdefault(row.family, {})
        for family in names.values():
            family.pop(row.name, None)
        names[row.family][row.name] = row
    lines = ["| family | NumPy functions on Values and Tensors |", "|---|---|"]
    for family in [*FAMILIES, *sorted(set(names) - set(FAMILIES))]:
        rows = names.get(family)
        if rows:
            listed = ", ".join(_short(name) for name in rows)
            lines.append(f"| {FAMILIES.get(family, family)} | {listed} |")
    return "\n".join(lines)
