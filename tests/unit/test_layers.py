"""shared/kernel stays framework-free: no web or messaging framework, no database session, no platform."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

KERNEL = Path(__file__).resolve().parents[2] / "shared" / "kernel"
FORBIDDEN = (
    "fastapi",
    "faststream",
    "aiokafka",
    "sqlalchemy",
    "sqlmodel",
    "redis",
    "opentelemetry",
    "httpx",
    "starlette",
    "shared.platform",
    "services",
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(KERNEL.glob("*.py")), ids=lambda p: p.name)
def test_the_kernel_imports_no_framework_and_no_platform(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN or m.startswith(FORBIDDEN))
    assert bad == [], f"{path.name} imports {bad}"


def test_only_the_clock_reads_the_date() -> None:
    root = KERNEL.parents[1]
    readers = [
        str(path.relative_to(root))
        for folder in ("shared", "services", "infra", "bench", "tests")
        for path in (root / folder).rglob("*.py")
        if "date.today()" in path.read_text(encoding="utf-8") and path.name != "test_layers.py"
    ]
    assert readers == ["shared/kernel/clock.py"]
