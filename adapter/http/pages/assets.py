"""Vendoring the NHS.UK frontend's CSS, JavaScript and images into the package
(`s117 pages assets`): the pages never load anything from a CDN, so they work on a closed
network and the Content-Security-Policy can say `'self'`.

The files are committed under `static/` with the version in `static/VERSION`; run this again
to move to another version of the npm package `nhsuk-frontend` (keep it in step with the
`nhsuk-frontend-jinja` templates, whose README lists the matching versions)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

VERSION = "10.6.1"  # matches nhsuk-frontend-jinja 0.10.x
STATIC = Path(__file__).with_name("static")
# Frutiger is licensed to NHS.UK domains and served from assets.nhs.uk: the vendored CSS
# drops those @font-face rules and falls back to the design system's Arial stack.
_REMOTE_FONT = re.compile(r"@font-face\{[^}]*assets\.nhs\.uk[^}]*\}")


def vendor(version: str = VERSION, static: Path = STATIC) -> list[Path]:
    """Fetch `nhsuk-frontend@version` with `npm pack` and copy its built files; returns
    the files written."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH: install nodejs and npm to vendor the assets")
    with tempfile.TemporaryDirectory() as work:
        done = subprocess.run([npm, "pack", f"nhsuk-frontend@{version}", "--silent"],
                              cwd=work, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"npm pack nhsuk-frontend@{version} failed: {done.stderr}")
        with tarfile.open(Path(work) / done.stdout.strip().splitlines()[-1]) as archive:
            archive.extractall(work, filter="data")
        dist = Path(work) / "package" / "dist" / "nhsuk"
        return _copy(dist, version, static)


def _copy(dist: Path, version: str, static: Path) -> list[Path]:
    # Only the vendored files are replaced: `s117.js` and `s117.css` beside them are ours.
    shutil.rmtree(static / "images", ignore_errors=True)
    (static / "images").mkdir(parents=True)
    css = _REMOTE_FONT.sub("", (dist / "nhsuk-frontend.min.css").read_text(encoding="utf-8"))
    css = re.sub(r"/\*# sourceMappingURL=.*?\*/", "", css)
    written = [static / "nhsuk-frontend.min.css", static / "nhsuk-frontend.min.js"]
    written[0].write_text(css, encoding="utf-8")
    js = (dist / "nhsuk-frontend.min.js").read_text(encoding="utf-8")
    written[1].write_text(re.sub(r"//# sourceMappingURL=\S+", "", js), encoding="utf-8")
    for image in sorted((dist / "assets" / "images").iterdir()):
        shutil.copy2(image, static / "images" / image.name)
        written.append(static / "images" / image.name)
    shutil.copy2(dist / "assets" / "manifest.json", static / "manifest.json")
    (static / "VERSION").write_text(f"nhsuk-frontend {version}\n", encoding="utf-8")
    return written + [static / "manifest.json", static / "VERSION"]
