"""The package's layers (pyproject.toml, ``[tool.importlinter]``): each
subpackage imports only from the layers below it, and no subpackage's
modules import each other in a cycle.  Checked by import-linter, which
builds the import graph statically (well under a second)."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINT_IMPORTS = pathlib.Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(),
    reason=f"import-linter is not installed ({LINT_IMPORTS} missing): pip install -e '.[test]'",
)


def lint_imports(root, *args):
    """Run ``lint-imports`` on the package under ``root`` with ``root``'s
    pyproject.toml; the package is found there, not in site-packages."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args, str(root / "pyproject.toml")],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


def test_the_contracts_are_kept():
    code, output = lint_imports(ROOT)
    assert code == 0, output


def test_an_upward_import_breaks_the_layers_contract(tmp_path):
    """The contract bites: the package copied, plus one import of a higher
    layer (array) from a lower one (ops)."""
    shutil.copytree(ROOT / "tapegrad", tmp_path / "tapegrad",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    table = tmp_path / "tapegrad" / "ops" / "table.py"
    table.write_text(table.read_text() + "\nimport tapegrad.array  # noqa: E402 (upward)\n")

    code, output = lint_imports(tmp_path, "--contract", "layers")
    assert code != 0, output
    assert "tapegrad.ops is not allowed to import tapegrad.array" in output, output
    assert "tapegrad.ops.table -> tapegrad.array" in output, output
