"""The committed code in src/cosid/api must be exactly what `make proto` makes from proto/."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "src" / "cosid" / "api"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_generated_code_is_current(tmp_path: Path) -> None:
    subprocess.run(
        ["make", "--no-print-directory", "proto", f"API_OUT={tmp_path}"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    fresh = _tree(tmp_path / "cosi")
    committed = _tree(COMMITTED / "cosi")
    stale = sorted(
        name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name)
    )
    assert not stale, f"src/cosid/api is stale, run `make proto`: {stale}"
