"""Recorded programs as files: the versioned format behind
``Recorded.save``, :func:`tapegrad.load` and pickling.

A file is one uncompressed ``.npz`` archive read back without pickle
(:mod:`~tapegrad.replay.tapefile.format`: the container, its version and
checksum); it holds the program's columns and outputs, an array program's
op parameters as JSON and arrays (:mod:`~tapegrad.replay.tapefile.codec`),
and the op tables by name, so that a file outlives a renumbering of op
codes (:mod:`~tapegrad.replay.tapefile.checks`, which also checks every
record before anything replays).  :mod:`~tapegrad.replay.tapefile.programs`
turns a program into those parts and back.  Nothing here imports
:mod:`tapegrad.replay.record`: it builds the ``Recorded`` of what
:func:`read` returns.

Rooms: ``format`` (container), ``codec`` (params and structure as JSON),
``checks`` (op tables, index checks), ``programs`` (program <-> parts).

>>> import numpy as np, tapegrad as tg
>>> rec = tg.record(lambda x: x[0] * x[1], np.array([1.0, 2.0]))
>>> loaded = read(dumps(rec), "unpickled")
>>> loaded.kind, loaded.structure.describe()
('scalar', 'an array of shape (2,)')
"""

import io
import os
import uuid

from tapegrad.replay.tapefile import format as container
from tapegrad.replay.tapefile.programs import Loaded, build, parts

__all__ = ["dump", "dumps", "read", "Loaded"]


def dumps(recorded):
    """The bytes of ``recorded``'s file (what :func:`dump` writes)."""
    header, entries = parts(recorded)
    buffer = io.BytesIO()
    container.write(entries, header, buffer)
    return buffer.getvalue()


def dump(recorded, path):
    """Write ``recorded`` to the file ``path`` (any name: no suffix is
    added), whole or not at all: it goes to a temporary file beside
    ``path`` first, which then replaces ``path``."""
    header, entries = parts(recorded)  # TypeError here leaves no file behind
    path = os.path.abspath(os.fspath(path))
    temporary = os.path.join(os.path.dirname(path),
                             f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(handle, "wb") as file:
            container.write(entries, header, file)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def read(source, origin):
    """The :class:`~tapegrad.replay.tapefile.programs.Loaded` program of
    ``source`` (a path, or a file's bytes), checked; ``origin`` says where
    it came from in its changed-branch messages."""
    header, entries = container.read(source)
    return build(header, entries, origin)
