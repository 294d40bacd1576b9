"""The key of a cached fused kernel covers every source file of tapegrad."""

import shutil

from tapegrad.fusion import cache


def copy_of_the_package(tmp_path):
    root = tmp_path / "tapegrad"
    shutil.copytree(cache.PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_stamp_hashes_relative_paths_so_a_copy_hashes_the_same(tmp_path):
    assert cache.source_stamp(copy_of_the_package(tmp_path)) == cache.source_stamp()


def test_a_rule_edited_in_ops_changes_the_stamp(tmp_path):
    """The op table's rules are compiled into every fused kernel: editing
    one (in a subpackage, not next to cache.py) must make new cache files."""
    root = copy_of_the_package(tmp_path)
    before = cache.source_stamp(root)
    rules = root / "ops" / "elementary.py"
    rules.write_text(rules.read_text() + "\n# an edited rule\n")
    assert cache.source_stamp(root) != before


def test_moving_a_file_changes_the_stamp(tmp_path):
    root = copy_of_the_package(tmp_path)
    before = cache.source_stamp(root)
    (root / "ops" / "select.py").rename(root / "ops" / "chosen.py")
    assert cache.source_stamp(root) != before


def test_the_stamp_is_computed_once_per_process(monkeypatch):
    first = cache._stamp()
    monkeypatch.setattr(cache, "source_stamp", lambda *args: "recomputed")
    assert cache._stamp() == first
