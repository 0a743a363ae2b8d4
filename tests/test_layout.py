"""The tree keeps the shape STYLE.md asks of it: modules that fit in a head."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400


def test_no_module_in_core_or_app_is_over_400_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for package in ("core", "app")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these by responsibility (at most {MAX_LINES} lines each): {long}"
