"""The published study-cheating techniques, measured: what each earns against the wall time
it took, and whether the 学习异常 desk flags it.

    TEST_DATABASE_URL=… TEST_REDIS_URL=… .venv/bin/python bench/study_attacks.py

Runs ``tests/handlers/test_study_attacks.py`` (real PostgreSQL and Redis, the player's
HTTP API, the ledger's clock moved by the test) and prints its table. Exits non-zero when a
technique earns more than it should (the tests' assertions).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    run = subprocess.run(
        [
            str(ROOT / "dev"),
            "test",
            "tests/handlers/test_study_attacks.py",
            "-q",
            "-s",
            "-p",
            "no:randomly",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    rows = [
        line.split(" | ")[1:] for line in run.stdout.splitlines() if line.startswith("ATTACK | ")
    ]
    width = max((len(row[0]) for row in rows), default=10)
    print(f"{'technique':<{width}}  {'earned':>18}  {'wall':>8}  flagged")
    for name, earned, wall, flagged, *note in rows:
        print(f"{name:<{width}}  {earned:>18}  {wall:>8}  {flagged}  {' '.join(note)}")
    tail = [line for line in run.stdout.splitlines() if "passed" in line or "failed" in line]
    print(tail[-1] if tail else run.stdout[-2000:] + run.stderr[-2000:])
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
