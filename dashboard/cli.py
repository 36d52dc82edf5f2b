"""`fer-dashboard`: start the Streamlit dashboard on 127.0.0.1 (pass --host to change)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the FER-2013 error-analysis dashboard.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    args, rest = parser.parse_known_args(argv)
    app = Path(__file__).resolve().parent / "app.py"
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.host,
               "--server.port", str(args.port), "--browser.gatherUsageStats", "false", *rest]  # fmt: skip
    return subprocess.call(command)


if __name__ == "__main__":
    raise SystemExit(main())
