"""Fail when a function or method in src/modelscout is longer than 60 lines.

A function's length runs from its ``def`` line to its last line (decorators left out, its
docstring and any nested function counted in). Numeric kernels may be longer: they are named
in ``ALLOWED`` below with the reason; an entry that no longer names a long function fails the
check, so the list cannot go stale. Run from the repository root (``make lint`` and ``.ci/run`` do):

    python tools/check_function_length.py [FOLDER ...]   # default: src/modelscout

Prints ``path:line name length`` per offender and exits 1 when there is any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

LIMIT = 60
REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_ROOTS = (REPOSITORY / "src" / "modelscout",)
# "path from the repository root:qualified name" -> why it may be longer than LIMIT.
# Numeric kernels (one formula, arrays in and numbers out, that reads best whole) go here
# with their reason; none is over the limit yet.
ALLOWED: dict[str, str] = {}


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.AST]]:
    """Every function and method in ``tree`` with its qualified name (``Class.method``,
    ``outer.inner``), nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from functions(node, f"{name}.")
        else:
            yield from functions(node, prefix)


def long_functions(path: Path, limit: int = LIMIT) -> Iterator[tuple[str, int, int]]:
    """``(qualified name, def line, length)`` of each function in ``path`` over ``limit``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for name, node in functions(tree):
        length = node.end_lineno - node.lineno + 1
        if length > limit:
            yield name, node.lineno, length


def check(roots: list[Path], allowed: dict[str, str], base: Path = REPOSITORY) -> list[str]:
    """The problems found under ``roots``: each long function not in ``allowed``, then each
    entry of ``allowed`` (under ``roots``) that names no long function. Paths, in the
    problems and in ``allowed``'s keys, are written from ``base``."""
    problems, seen = [], set()
    for root in roots:
        for path in sorted(root.resolve().rglob("*.py")):
            where = path.relative_to(base).as_posix()
            for name, line, length in long_functions(path):
                seen.add(f"{where}:{name}")
                if f"{where}:{name}" not in allowed:
                    problems.append(f"{where}:{line} {name} {length} lines")
    prefixes = tuple(f"{root.resolve().relative_to(base).as_posix()}/" for root in roots)
    for key in sorted(set(allowed) - seen):
        if key.startswith(prefixes):
            problems.append(
                f"{key} is allowed but is no longer over {LIMIT} lines (or gone): "
                "remove it from ALLOWED"
            )
    return problems


def main(argv: list[str]) -> int:
    roots = [Path(arg) for arg in argv] or list(DEFAULT_ROOTS)
    problems = check(roots, ALLOWED)
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"{len(problems)} problem(s): functions are at most {LIMIT} lines "
            "(tools/check_function_length.py says which may be longer and why)"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
