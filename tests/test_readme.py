"""The README's examples run, and print what their comments say."""

import contextlib
import io
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example(source):
    expected = [line.split("#", 1)[1].strip() for line in source.splitlines()
                if line.lstrip().startswith("print(") and "#" in line]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, str(README), "exec"), {})
    assert out.getvalue().split("\n")[:-1] == expected


def test_readme_opens_with_the_two_commands():
    first_block = README.read_text().split("```")[1]
    assert "make test" in first_block and "make bench" in first_block
