"""The layering and function-length checks that `make lint` and CI run can fail: each is shown
a tree that breaks it, and passes on the project as it is."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


length_check = load_tool("check_function_length")


def write_function(name, body_lines, indent=""):
    body = "".join(f"{indent}    x = {i}\n" for i in range(body_lines))
    return f"{indent}def {name}():\n{body}"


def test_flags_a_function_over_sixty_lines_and_spares_one_of_sixty(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    source = write_function("short", 59) + write_function("long", 60)
    source += "class Runner:\n" + write_function("step", 70, indent="    ")
    (package / "mod.py").write_text(source)
    problems = length_check.check([package], {}, base=tmp_path)
    assert problems == ["pkg/mod.py:61 long 61 lines", "pkg/mod.py:123 Runner.step 71 lines"]


def test_an_allowed_function_passes_and_a_stale_allowance_fails(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text(write_function("kernel", 80))
    allowed = {"pkg/mod.py:kernel": "a numeric kernel", "pkg/mod.py:gone": "shortened since"}
    problems = length_check.check([package], allowed, base=tmp_path)
    assert len(problems) == 1 and problems[0].startswith("pkg/mod.py:gone is allowed but")


def test_the_project_passes_the_function_length_check():
    assert length_check.check(list(length_check.DEFAULT_ROOTS), length_check.ALLOWED) == []


def lint_imports(src):
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--no-logo", ROOT / "pyproject.toml"],
        env=env,
        cwd=src,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_project_keeps_its_import_contracts():
    result = lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("records.py", "import modelscout.cli.output", "layers"),
        ("decide.py", "import torch", "model libraries"),
        ("decide.py", "def later():\n    import transformers", "model libraries"),
        ("plugins.py", "x = 1", "not listed as layers"),  # a new module needs its layer
    ],
)
def test_an_import_against_the_contracts_fails_the_check(tmp_path, module, line, broken):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "modelscout", src / "modelscout")
    with open(src / "modelscout" / module, "a", encoding="utf-8") as file:
        file.write(f"\n{line}\n")
    result = lint_imports(src)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout and broken in result.stdout.split("Broken contracts")[1]


def test_the_layers_contract_makes_no_exception():
    # An import that breaks the layers is fixed by moving code down, not by listing it here.
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["id"] == "layers")
    assert layers.get("ignore_imports", []) == []
