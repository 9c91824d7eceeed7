#!/usr/bin/env bash
# Do the declared version floors still work? Installs the floor (the `>=` version in
# pyproject.toml) of each light dependency into a fresh virtual environment layered over the
# project's own (.venv, or $BASE), then runs a fast subset of the tests against those floors.
# The heavy dependencies (torch, transformers, numpy, ...) come from the base environment at
# their installed versions: their floors are not exercised here. Takes a few minutes; needs
# the package registry. Usage: tools/check_floors.sh   (BASE=/path/to/venv to pick the base)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-.venv}
LIGHT="pyyaml pydantic typer rich psutil jinja2 markupsafe threadpoolctl safetensors"
TESTS="tests/test_spec.py tests/test_data.py tests/test_decide.py tests/test_store.py
  tests/test_cli.py tests/test_html_report.py tests/test_packaging.py"

FLOORS=$(mktemp -d)/floors
trap 'rm -rf "$(dirname "$FLOORS")"' EXIT
"$BASE/bin/python" -m venv "$FLOORS"
site() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
# A .pth line puts the base environment's packages after the floors' own: what is installed
# here shadows the base's copy of the same package.
site "$BASE/bin/python" > "$(site "$FLOORS/bin/python")/base.pth"

# name==floor for each light dependency: the `>=` version in pyproject.toml, or higher where a
# package installed in the base requires more (say why). Run with the base's Python: it reads
# the base's installed metadata.
PINS=$("$BASE/bin/python" - "$LIGHT" <<'PY'
import re, sys, tomllib
from importlib.metadata import distributions
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

light = {canonicalize_name(name) for name in sys.argv[1].split()}
floors = {}
for requirement in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    name, floor = re.fullmatch(r"([A-Za-z0-9._-]+)>=([0-9.]+)", requirement).groups()
    if canonicalize_name(name) in light:
        floors[canonicalize_name(name)] = (Version(floor), "pyproject.toml")
for dist in distributions():
    if canonicalize_name(dist.metadata["Name"]) in light:
        continue  # replaced by its own floor here
    for line in dist.requires or []:
        needed = Requirement(line)
        name = canonicalize_name(needed.name)
        if name not in floors or (needed.marker and "extra" in str(needed.marker)):
            continue
        for spec in needed.specifier:
            if spec.operator in (">=", "~=") and Version(spec.version) > floors[name][0]:
                floors[name] = (Version(spec.version), f"{dist.metadata['Name']} {dist.version}")
for name, (floor, why) in sorted(floors.items()):
    print(f"{name}=={floor}")
    print(f"  {name}: {floor} ({why})", file=sys.stderr)
PY
)
echo "floors: $(echo $PINS)"
# shellcheck disable=SC2086
"$FLOORS/bin/python" -m pip install --quiet --disable-pip-version-check $PINS
# The venv's own setuptools (from ensurepip) is older than the build needs: use the base's.
"$FLOORS/bin/python" -m pip uninstall --quiet --yes setuptools
"$FLOORS/bin/python" -m pip list --disable-pip-version-check --path "$(site "$FLOORS/bin/python")"
# Conflicts between a floor and the base's heavier packages are printed, not fatal: the tests
# below are what decides.
"$FLOORS/bin/python" -m pip check --disable-pip-version-check || true
# shellcheck disable=SC2086
PYTHONPATH="$PWD/src" HF_HUB_OFFLINE=1 "$FLOORS/bin/python" -m pytest -q -p no:cacheprovider $TESTS
