"""Source trees for an A/B measurement: the working tree, and a commit
exported from git into a directory of its own.

Anything that keeps the A/B from running (git missing, not a repository, a
commit this clone does not have, e.g. in a shallow clone) raises
:class:`TreeError` with the reason; the gate reports it as a failure, so an
A/B that could not run never passes.

A directory outside any repository is refused, with the reason:

>>> import tempfile
>>> try:
...     toplevel(tempfile.mkdtemp())
... except TreeError as error:
...     print("TreeError:", "not in a git working tree" in str(error) or str(error))
TreeError: True
"""

import io
import shutil
import subprocess
import tarfile
from pathlib import Path


class TreeError(RuntimeError):
    """Why a commit could not be made into a tree to measure."""


def git(*args, cwd="."):
    """``git args...`` in ``cwd``; its stdout, stripped.  Raises
    :class:`TreeError` when git is missing or the command fails."""
    if shutil.which("git") is None:
        raise TreeError("git is not installed, so the commit to compare against cannot be "
                        "checked out")
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True)
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines() or ["?"]
        raise TreeError(f"git {' '.join(args)}: {why[-1]}")
    return done.stdout.decode(errors="replace").strip()


def toplevel(path="."):
    """The root of the git working tree containing ``path``."""
    git("--version")  # git missing: that error, not "not a working tree"
    try:
        return Path(git("rev-parse", "--show-toplevel", cwd=path))
    except TreeError as error:
        raise TreeError(f"{Path(path).resolve()} is not in a git working tree ({error})") from None


def resolve(ref, repo):
    """The full commit id of ``ref`` in ``repo``.  Raises :class:`TreeError`
    naming the way out when this clone does not have it."""
    try:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repo)
    except TreeError:
        shallow = git("rev-parse", "--is-shallow-repository", cwd=repo) == "true"
        hint = ("this clone is shallow: fetch the history (git fetch --unshallow) or that commit"
                if shallow else "fetch it, or name a commit this clone has")
        raise TreeError(f"commit {ref} is not in this clone: {hint}") from None


def export(ref, repo, dest):
    """Write the files of commit ``ref`` of ``repo`` into the new directory
    ``dest`` (``git archive``: the repository itself is only read).  Returns
    the commit id.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     try:
    ...         commit = export("HEAD", toplevel(), Path(tmp, "tree"))
    ...         found = Path(tmp, "tree", "tapegrad", "benchmark", "trees.py").is_file()
    ...     except TreeError:  # no git, or not run from a clone of tapegrad
    ...         commit, found = "0" * 40, True
    >>> len(commit), found
    (40, True)
    """
    commit = resolve(ref, repo)
    done = subprocess.run(["git", "archive", "--format=tar", commit], cwd=repo,
                          capture_output=True)
    if done.returncode != 0:
        raise TreeError(f"git archive {commit}: {done.stderr.decode(errors='replace').strip()}")
    Path(dest).mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(dest, filter="data")
        else:  # pragma: no cover (Python < 3.11.4; the archive is our own repository's)
            archive.extractall(dest)
    return commit


def head(path="."):
    """``{"commit": id, "dirty": bool}`` of the working tree at ``path``
    (``dirty``: tracked files other than JSON differ from the commit), or
    ``{}`` outside git.

    >>> sorted(head()) in (["commit", "dirty"], [])
    True
    """
    try:
        repo = toplevel(path)
        commit = git("rev-parse", "HEAD", cwd=repo)
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                      ":(exclude)*.json", cwd=repo)
    except TreeError:
        return {}
    return {"commit": commit, "dirty": bool(changed)}
