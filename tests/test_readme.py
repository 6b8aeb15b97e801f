"""README.md is what a newcomer reads first: short, its ten lines of Python run as written, its links lead somewhere,
and neither it nor the docs name commits or issues."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_the_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 150, f"README.md has {len(lines)} lines; move what is cut into docs/guide/"


def test_the_readme_gives_the_two_commands_of_the_makefile():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"^(\w[\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M)
    assert re.search(r"^    make report ", text, flags=re.M) and re.search(r"^    make test ", text, flags=re.M)
    assert {"report", "test", "test-all", "test-slow", "docs", "bench"} <= set(targets)


def test_the_readmes_links_exist():
    text = README.read_text(encoding="utf-8")
    links = [t for t in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text) if "://" not in t]
    assert len(links) >= 10
    missing = [t for t in links if not (ROOT / t).exists()]
    assert not missing, f"README.md links to what does not exist: {', '.join(missing)}"


def test_the_ten_lines_of_python_run(tmp_path, monkeypatch, capsys):
    (code,) = re.findall(r"^```python\n(.*?)^```$", README.read_text(encoding="utf-8"), flags=re.M | re.S)
    assert len(code.splitlines()) == 10
    monkeypatch.chdir(tmp_path)  # it writes results/sde
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    error, slope = capsys.readouterr().out.splitlines()
    assert 0 < float(error) < 0.5  # the network of depth 256 beside its SDE limit
    conv, df = namespace["conv"], namespace["df"]
    assert float(slope.split()[0]) == conv.rate.slope and conv.theory == -0.5 and conv.passed
    assert namespace["p"].shape == (257, 4, 8, 16) and len(df) == 4 * 16


HASH = re.compile(r"(?<![\w.])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}(?![\w])")
ISSUE = re.compile(r"\bissues?\s*#?\d+", re.I)


@pytest.mark.parametrize("folder", ["README.md", "CHANGELOG.md", "docs", "src/reslimit", "tests"])
def test_no_commit_hashes_or_issue_numbers(folder):
    path = ROOT / folder
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in {".md", ".py", ".c"})
    found = []
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            line = re.sub(r"(fromhex\(|known answer |KAT = ).*", "", line)  # ARS-7's known-answer bytes
            for match in (*HASH.finditer(line), *ISSUE.finditer(line)):
                found.append(f"{file.relative_to(ROOT)}:{number}: {match[0]}")
    assert not found, "commit hashes or issue numbers:\n" + "\n".join(found)
