"""docs/architecture.md holds what it says: its table of layers is the package's import graph, and its worked
examples (a new block, path, study and claim, each one file) are tests.

The path and claim examples run here as they are written in the page; the block and study examples are
excerpts of the tests they name, checked to be their code word for word.
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from test_imports import graph

from reslimit import PATHS

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
MARKER = re.compile(r"<!-- example: (?P<name>\w+)(?:, (?P<ref>\S+))? -->")


def examples(text: str) -> dict[str, tuple[str | None, str | None]]:
    """{name: (the test it is an excerpt of or None, its code or None)} of the page's ``<!-- example -->`` markers:
    the code is the first python block after the marker, before the next marker."""
    found = {}
    marks = list(MARKER.finditer(text))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        block = re.search(r"^```python\n(.*?)^```$", text[mark.end():end], flags=re.M | re.S)
        found[mark["name"]] = (mark["ref"], block[1] if block else None)
    return found


def run(name: str) -> dict:
    """Execute the example ``name`` of the page; its namespace."""
    code = examples(PAGE.read_text(encoding="utf-8"))[name][1]
    assert code is not None, f"docs/architecture.md has no python block for the example {name!r}"
    namespace = {"__name__": f"architecture_{name}"}
    exec(compile(code, f"{PAGE}:{name}", "exec"), namespace)
    return namespace


def layers(text: str) -> dict[str, int]:
    """{module pattern: layer} of the page's table of layers (the rows after ``<!-- layers``)."""
    table = text[text.index("<!-- layers"):].split("\n\n")[1]
    out = {}
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for name in re.findall(r"`([\w.*]+)`", cells[2]):
            out[name] = int(cells[0])
    return out


def layer_of(module: str, table: dict[str, int]) -> int | None:
    """The layer of ``module`` (e.g. reslimit.paths.iid) by the table's patterns; None where none matches."""
    name = module.removeprefix("reslimit.") if module != "reslimit" else "reslimit"
    for pattern, layer in table.items():
        if name == pattern or (pattern.endswith(".*") and (name == pattern[:-2] or name.startswith(pattern[:-1]))):
            return layer
    return None


def test_the_layers_are_the_import_graph():
    table = layers(PAGE.read_text(encoding="utf-8"))
    edges = graph()
    unplaced = sorted(m for m in edges if layer_of(m, table) is None)
    assert not unplaced, f"modules in no layer of docs/architecture.md: {', '.join(unplaced)}"
    upward = sorted(f"{a} (layer {layer_of(a, table)}) imports {b} (layer {layer_of(b, table)})"
                    for a, targets in edges.items() for b in targets if layer_of(b, table) > layer_of(a, table))
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_the_table_reader_places_packages_and_modules():
    table = layers("<!-- layers -->\n\n| layer | what | modules |\n|---|---|---|\n| 1 | a | `x`, `p.*` |\n"
                   "| 2 | b | `reslimit` |\n")
    assert table == {"x": 1, "p.*": 1, "reslimit": 2}
    assert [layer_of(m, table) for m in ("reslimit.x", "reslimit.p", "reslimit.p.q", "reslimit.px", "reslimit")] \
        == [1, 1, 1, None, 2]


def test_the_page_has_the_four_examples():
    found = examples(PAGE.read_text(encoding="utf-8"))
    assert sorted(found) == ["block", "claim", "path", "study"]
    assert found["path"][1] is not None and found["claim"][1] is not None


@pytest.fixture
def paths_registry():
    """PATHS as it was before the test, whatever the example registers."""
    before = dict(PATHS)
    yield PATHS
    PATHS.clear()
    PATHS.update(before)


def test_a_new_path_is_one_class(paths_registry):
    namespace = run("path")
    assert PATHS["constant"] is namespace["Constant"]
    V = namespace["V"]
    assert V.shape == (8, 2, 4, 4) and float(V.square().mean() * 4) == pytest.approx(1.0, abs=0.5)


def test_the_registry_is_back_after_the_new_path():
    assert "constant" not in PATHS and {"iid", "brownian", "smooth", "fbm"} <= set(PATHS)


def test_a_new_claim_is_one_module(capsys):
    modules = set(sys.modules)
    try:
        namespace = run("claim")
    finally:
        for name in set(sys.modules) - modules:
            if name.split(".")[0] == "myclaims":
                del sys.modules[name]
    root = namespace["root"]
    sys.path.remove(str(root))
    shutil.rmtree(root)
    assert "L=16: measured" in capsys.readouterr().out
    (verdict,) = namespace["verdicts"]
    assert verdict.measured == pytest.approx(verdict.theory, abs=verdict.tolerance)


def _function_body(ref: str) -> str | None:
    """The dedented body of the test ``FILE::NAME``; None where the file or the function does not exist yet."""
    file, name = ref.split("::")
    path = ROOT / file
    if not path.is_file():
        return None
    source = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return textwrap.dedent("\n".join(ast.get_source_segment(source, node).splitlines()[1:])) + "\n"
    return None


@pytest.mark.parametrize("name", ["block", "study"])
def test_an_example_of_another_test_is_its_code(name):
    ref, code = examples(PAGE.read_text(encoding="utf-8"))[name]
    body = _function_body(ref)
    if body is None:
        pytest.skip(f"{ref} is not written yet")
    assert code is not None, f"docs/architecture.md shows no code for the {name} example: paste an excerpt of {ref}"
    assert code in body, f"the {name} example of docs/architecture.md is no longer the code of {ref}: copy it again"
