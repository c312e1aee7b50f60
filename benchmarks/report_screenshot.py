"""Open an evaluation report in headless Chromium and save a screenshot.

    .venv/bin/python benchmarks/report_screenshot.py report/report.html shot.png

Needs ``/usr/bin/chromium`` (Debian: ``apt-get install -y chromium``). Prints the PNG size;
exit code 1 if Chromium is missing or produced no image.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def screenshot(html: Path, png: Path, *, width: int = 1400, height: int = 2400) -> Path:
    """Render ``html`` with headless Chromium into ``png``; returns the PNG path."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        raise FileNotFoundError("chromium not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             f"--window-size={width},{height}", f"--screenshot={png.resolve()}", html.resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )
    return png


if __name__ == "__main__":
    html_path = Path(sys.argv[1] if len(sys.argv) > 1 else "report/report.html")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "report_screenshot.png")
    try:
        shot = screenshot(html_path, out)
    except (FileNotFoundError, subprocess.SubprocessError) as exc:
        print(f"error: {exc}")
        sys.exit(1)
    size = shot.stat().st_size if shot.exists() else 0
    print(f"{shot}: {size:,} bytes")
    sys.exit(0 if size > 10_000 else 1)
