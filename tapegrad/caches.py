"""tapegrad's caches on disk: where they are, what they hold, clearing them.

Two caches: the fused kernels' files (:mod:`tapegrad.fusion.cache`, under
``$TAPEGRAD_CACHE_DIR``, numba's compiled files for them beside them or in
``$NUMBA_CACHE_DIR``) and numba's cache of tapegrad's own kernels (beside
tapegrad's sources, or in ``$NUMBA_CACHE_DIR``).  :func:`clear` deletes
only those files: the fused kernels' ``k*.py``, their temporary files, and
numba's ``.nbi``/``.nbc`` files in the directories numba keeps for
tapegrad's source directories and for the fused directory (each of which
holds only the files of functions defined there), never anything else.
``python -m tapegrad cache info`` and ``python -m tapegrad cache clear``
run :func:`main`.
"""

import argparse
import os
import pathlib
import sys

from tapegrad import jit
from tapegrad.fusion import cache as fused

PACKAGE = fused.PACKAGE


def _source_dirs(package=PACKAGE):
    """tapegrad's directories holding ``.py`` files (each numba caches apart)."""
    return sorted({path.parent for path in package.rglob("*.py") if "__pycache__" not in path.parts})


def _files(directory, keep):
    """``(path, bytes)`` of the files of ``directory`` whose name ``keep``
    accepts (none when it does not exist)."""
    try:
        listing = list(os.scandir(directory))
    except OSError:
        return []
    found = []
    for entry in listing:
        if keep(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                found.append((entry.path, entry.stat(follow_symlinks=False).st_size))
            except OSError:
                pass
    return found


def _fused_own(name):
    """A file of the fused directory itself that tapegrad wrote: a kernel,
    a kernel being written, a writability probe."""
    return ((name.startswith("k") and name.endswith(".py"))
            or (name.startswith(".k") and name.endswith(".tmp")) or name.startswith(".probe-"))


def fused_files():
    """``(path, bytes)`` of every file of the fused cache: kernels, their
    temporary files, numba's files for them."""
    directory = fused.fused_directory()
    found = _files(directory, _fused_own)
    for numba_dir in jit.numba_cache_dirs(directory):
        found += _files(numba_dir, jit.is_numba_cache_file)
    return found


def numba_files():
    """``{directory: [(path, bytes), ...]}``: numba's cache files of
    tapegrad's own kernels, per directory numba keeps them in."""
    found = {}
    for source_dir in _source_dirs():
        for numba_dir in jit.numba_cache_dirs(source_dir):
            files = _files(numba_dir, jit.is_numba_cache_file)
            if files:
                found[numba_dir] = files
    return found


def info():
    """The caches as a dict: the fused cache's directory, kernels, files,
    bytes and bound; numba's cache of tapegrad: files and bytes per
    directory.  Reads directory listings only."""
    kernels, _ = fused.entries()
    files = fused_files()
    numba = numba_files()
    return {
        "fused": {"path": str(fused.fused_directory()), "kernels": len(kernels),
                  "files": len(files), "bytes": sum(size for _, size in files),
                  "max_bytes": fused.max_bytes(), "max_kernels": fused.MAX_KERNELS},
        "numba": {"dirs": {d: {"files": len(f), "bytes": sum(size for _, size in f)}
                           for d, f in numba.items()},
                  "files": sum(len(f) for f in numba.values()),
                  "bytes": sum(size for f in numba.values() for _, size in f),
                  "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR") or None},
    }


def clear():
    """Delete tapegrad's fused cache and numba's cache files of tapegrad's
    kernels (nothing else); returns ``(files, bytes)`` deleted."""
    doomed = fused_files() + [item for files in numba_files().values() for item in files]
    deleted = freed = 0
    for path, size in doomed:
        try:
            os.unlink(path)
        except OSError:
            continue
        deleted, freed = deleted + 1, freed + size
    return deleted, freed


def _mb(n):
    return f"{n / 1e6:.1f} MB"


def _report(figures):
    f, n = figures["fused"], figures["numba"]
    created = "" if pathlib.Path(f["path"]).is_dir() else " (not created yet)"
    where = (f"NUMBA_CACHE_DIR={n['NUMBA_CACHE_DIR']}" if n["NUMBA_CACHE_DIR"]
             else "NUMBA_CACHE_DIR unset")
    lines = [f"fused kernels: {f['path']}{created}",
             (f"  {f['kernels']} kernels, {f['files']} files (numba's included), "
              f"{_mb(f['bytes'])}; bounded at {_mb(f['max_bytes'])} (TAPEGRAD_CACHE_MAX_MB) "
              f"and {f['max_kernels']} kernels"),
             f"numba's cache of tapegrad's kernels ({where}):"]
    for directory, d in n["dirs"].items():
        lines.append(f"  {directory}: {d['files']} files, {_mb(d['bytes'])}")
    lines.append(f"  {n['files']} files, {_mb(n['bytes'])} in all")
    return lines


def main(argv=None):
    """``python -m tapegrad cache info|clear``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tapegrad")
    commands = parser.add_subparsers(dest="command", required=True)
    cache = commands.add_parser("cache", help="tapegrad's kernel caches on disk")
    cache.add_argument("action", choices=("info", "clear"),
                       help="info: where the caches are and their size; clear: delete them")
    args = parser.parse_args(argv)
    if args.action == "info":
        print("\n".join(_report(info())))
    else:
        deleted, freed = clear()
        print(f"deleted {deleted} files, {_mb(freed)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
