"""The shape the code keeps (docs/ARCHITECTURE.md, "Shape"): no function over 60 lines, no
module over 500, median function at most 12 lines, in ``app/`` and ``tests/``.

A function's length runs from its first decorator to its last line. Run by ``make test`` and
``make lint``; exits 1 and names what is over.
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

ROOTS = ("app", "tests")
MAX_FUNCTION = 60
MAX_MODULE = 500
MAX_MEDIAN = 12


def function_lengths(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            yield node.name, node.lineno, node.end_lineno - first + 1


def main(base: Path) -> int:
    lengths: list[int] = []
    over: list[str] = []
    for root in ROOTS:
        for path in sorted((base / root).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            name = path.relative_to(base)
            lines = len(source.splitlines())
            if lines > MAX_MODULE:
                over.append(f"{name}: module of {lines} lines (at most {MAX_MODULE})")
            for function, lineno, length in function_lengths(ast.parse(source)):
                lengths.append(length)
                if length > MAX_FUNCTION:
                    over.append(
                        f"{name}:{lineno} {function}: {length} lines (at most {MAX_FUNCTION})"
                    )
    median = statistics.median(lengths) if lengths else 0
    if median > MAX_MEDIAN:
        over.append(f"median function is {median} lines (at most {MAX_MEDIAN})")
    for line in over:
        print(line)
    print(f"code shape: {len(lengths)} functions, median {median} lines, {len(over)} over")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve().parent.parent))
