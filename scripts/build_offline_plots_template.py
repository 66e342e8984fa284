"""Build `.dvc/offline_plots.html`: DVC's plots page with vega, vega-lite and vega-embed inline, so that
`dvc plots show` / `dvc plots diff` render the data-driven plots without internet.

DVC's own page loads the three scripts from a CDN (dvc_render.vega.VegaRenderer.SCRIPTS); without a
connection the vega plots stay blank. `.dvc/config` names this file as `plots.html_template`, so every
`dvc plots` command uses it. The template has no `{scripts}` placeholder (DVC would put the CDN tags there)
and carries the exact versions DVC asks for, from the npm registry's tarballs (BSD-3-Clause; each licence is
kept in the page beside its script):

    cd /tmp && npm pack vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2
    uv run --frozen python scripts/build_offline_plots_template.py /tmp/vega-5.20.2.tgz \
        /tmp/vega-lite-5.2.0.tgz /tmp/vega-embed-6.18.2.tgz
"""

from __future__ import annotations

import hashlib
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".dvc" / "offline_plots.html"
PACKAGES = [("vega", "5.20.2", "build/vega.min.js"), ("vega-lite", "5.2.0", "build/vega-lite.min.js"),
            ("vega-embed", "6.18.2", "build/vega-embed.min.js")]

PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <title>DVC Plot</title>
    <!-- Built by scripts/build_offline_plots_template.py: {versions}, inline (no CDN). -->
{scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def build(tarballs: list[Path]) -> str:
    scripts, versions = [], []
    for (name, version, member), tgz in zip(PACKAGES, tarballs, strict=True):
        with tarfile.open(tgz) as t:
            meta = t.extractfile("package/package.json").read().decode()
            if f'"version": "{version}"' not in meta or f'"name": "{name}"' not in meta:
                raise SystemExit(f"{tgz} is not {name}@{version}; run `npm pack {name}@{version}` and pass its tarball.")
            js = t.extractfile(f"package/{member}").read().decode()
            licence = t.extractfile("package/LICENSE").read().decode()
        if "</script" in js.lower() or "{plot_divs}" in js or "{scripts}" in js:
            raise SystemExit(f"{name}'s build holds text that would break the page; it cannot be inlined as is.")
        sha = hashlib.sha256(js.encode()).hexdigest()
        versions.append(f"{name}@{version} ({member}, sha256 {sha[:16]})")
        scripts.append(f"    <!-- {name}@{version}, {member} from the npm registry. Licence:\n"
                       + licence.replace("--", "- -") + "    -->\n"
                       + f'    <script type="text/javascript" data-package="{name}@{version}">\n{js}\n    </script>')
    return PAGE.format(versions=", ".join(versions), scripts="\n".join(scripts))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    OUT.write_text(build([Path(a) for a in sys.argv[1:]]), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size:,} bytes)")
