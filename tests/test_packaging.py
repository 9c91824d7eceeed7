"""What the package promises: one version, the licence it declares, type hints, and a declared
distribution behind every third-party import."""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.metadata
import pkgutil
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import modelscout

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "modelscout"


def _name(requirement: str) -> str:
    """'scikit-learn>=1.3' -> 'scikit-learn', normalised as PEP 503 compares names."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> tuple[set[str], set[str]]:
    """(core dependency names, names in any optional extra) from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = {_name(r) for group in project["optional-dependencies"].values() for r in group}
    return {_name(r) for r in project["dependencies"]}, extras


# Modules imported only where their extra is installed: executors/__init__.py imports the Ray
# executor after checking that Ray imports, and says what to install otherwise.
EXTRA_ONLY = {"src/modelscout/executors/ray.py"}


def _third_party_imports() -> tuple[dict[str, str], dict[str, str]]:
    """(imports at module level, imports inside functions): top-level module -> a file using it."""
    top: dict[str, str] = {}
    nested: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_functions = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                module = name.split(".")[0]
                if module in sys.stdlib_module_names or module == "modelscout":
                    continue
                found = nested if id(node) in in_functions else top
                found.setdefault(module, str(path.relative_to(ROOT)))
    return top, nested


def _distributions(module: str) -> set[str]:
    installed = importlib.metadata.packages_distributions().get(module)
    assert installed, f"{module} is imported but no installed distribution provides it"
    return {_name(d) for d in installed}


def test_every_module_of_the_package_imports() -> None:
    every = pkgutil.walk_packages(modelscout.__path__, "modelscout.")
    names = [m.name for m in every if not m.name.endswith("__main__")]  # __main__ runs the CLI
    assert "modelscout.report.plots" in names and "modelscout.cli" in names
    for name in names:
        importlib.import_module(name)


def test_every_third_party_import_is_a_declared_dependency() -> None:
    core, extras = _declared()
    top, nested = _third_party_imports()
    assert {"numpy", "threadpoolctl", "markupsafe"} <= set(top)  # the scan sees real imports
    for module, path in top.items():
        if path in EXTRA_ONLY:  # imported only once its extra is known to be installed
            assert _distributions(module) & extras, f"{path} imports {module}: not declared"
            continue
        assert _distributions(module) & core, f"{path} imports {module}: not in dependencies"
    for module, path in nested.items():
        declared = core | extras
        assert _distributions(module) & declared, f"{path} imports {module}: not declared"


def test_version_has_one_source_that_the_installed_metadata_reports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("modelscout") == modelscout.__version__


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built with the project's own build backend from a copy of the sources."""
    tree = tmp_path_factory.mktemp("sdist")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(SRC, tree / "src" / "modelscout", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    build = "import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=tree, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return zipfile.ZipFile(out / done.stdout.strip().splitlines()[-1])


def test_wheel_carries_version_licence_type_marker_and_demo_data(wheel) -> None:
    names = set(wheel.namelist())
    info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    metadata = wheel.read(f"{info}/METADATA").decode()
    assert f"\nVersion: {modelscout.__version__}\n" in metadata
    assert "\nLicense-Expression: Apache-2.0\n" in metadata
    assert "\nLicense-File: LICENSE\n" in metadata
    licence = wheel.read(f"{info}/licenses/LICENSE").decode()
    assert licence == (ROOT / "LICENSE").read_text(encoding="utf-8")
    demo = ("examples/demo.yaml", "examples/intents.csv", "examples/ATTRIBUTION.md")
    for packaged in ("py.typed", *demo):
        assert f"modelscout/{packaged}" in names


def test_licence_file_is_the_apache_2_0_text() -> None:
    # The MD5 of https://www.apache.org/licenses/LICENSE-2.0.txt, byte for byte.
    digest = hashlib.md5((ROOT / "LICENSE").read_bytes()).hexdigest()
    assert digest == "3b83ef96387f14655fc854ddc3c6bd57"


def test_demo_data_is_what_its_script_draws_from_clinc150() -> None:
    source = ROOT.parent / "shared" / "datasets" / "clinc150_small.json"
    if not source.exists():
        pytest.skip(f"{source} is not on this machine")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from make_demo_data import INTENTS, ROWS_PER_INTENT, demo_rows
    finally:
        sys.path.remove(str(ROOT / "tools"))
    shipped = pd.read_csv(SRC / "examples" / "intents.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(shipped, demo_rows(source), check_dtype=False)
    assert shipped["label"].value_counts().to_dict() == dict.fromkeys(INTENTS, ROWS_PER_INTENT)
