"""Fusion: each chain of elementwise records of a recorded array program
runs as two generated numba kernels, compiled once per machine; so do the
whole programs of two shapes (one group reduced; a chain of dense layers).

Owns the fusion plan of a program and the kernels made for it at run time.
Imports the floor (:mod:`tapegrad.jit`), :mod:`tapegrad.ops` (the rules a
fused kernel calls), :mod:`tapegrad.kernels` (the rules' compiled names),
:mod:`tapegrad.core` and :mod:`tapegrad.array` (the records it groups);
only :mod:`tapegrad.replay` above calls it.

Rooms:

* ``plan``: :func:`~tapegrad.fusion.plan.plan` groups a program's
  elementwise records into convex chains of one shape and dtype, and each
  ``Group`` runs its kernels in its last member's place;
* ``source``: the Python source of a group's forward kernel (stores only
  the members read outside it) and backward kernel (recomputes the
  members in registers, writes each outside operand's gradient once);
* ``whole``: the value (and value-and-gradient) kernel of a program that
  is one group summed or averaged, and ops on that one number;
* ``dense``: the one kernel of a chain of dense layers under a cross
  entropy, for small batches (:mod:`tapegrad.replay.dense`);
* ``cache``: compiles that source with tapegrad's numba options and
  caches it on disk;
* ``reduce``: NumPy's pairwise summation order, for the kernels of a
  program that is one group summed (:mod:`tapegrad.replay.schedule`), whose
  value is then ``np.sum``'s to the bit.

How it caches: a group's kernels are compiled at its program's first
call.  :func:`tapegrad.fusion.cache.load` keeps one function per source in
the process (threads meeting a new one load it once); across processes
each source is written to a file of its own in ``$TAPEGRAD_CACHE_DIR``
(else ``$XDG_CACHE_HOME/tapegrad``, else ``~/.cache/tapegrad``) under
``fused/``, named by a hash of the source and of every ``.py`` file of
tapegrad, so that numba's ``cache=True`` finds the compiled kernel the next
time and an edited rule never meets a stale one.  The file is numba's
anchor, never trusted: the source in hand is what is compiled, and a file
that differs from it is warned about and rewritten.  The directory is
created owner-only; where it cannot be written, or another user owns or can
write it, kernels are compiled in memory, in every process.  The cache is
bounded (least recently used kernels evicted beyond
``$TAPEGRAD_CACHE_MAX_MB``); ``python -m tapegrad cache info|clear`` shows
and clears it (:mod:`tapegrad.caches`).
"""
