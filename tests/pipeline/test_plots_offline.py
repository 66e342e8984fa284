"""`dvc plots show` / `dvc plots diff` render offline (issue 20, point 7): the page DVC writes loads no script
from the network and holds vega, vega-lite and vega-embed inline, at the versions DVC's own page asks for
(dvc_render's CDN tags, read here as the independent reference)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.core.paths import ROOT


def test_the_plots_page_has_every_script_inline(tmp_path):
    from dvc_render.vega import VegaRenderer

    wanted = re.findall(r"cdn\.jsdelivr\.net/npm/([a-z-]+)@([0-9.]+)", VegaRenderer.SCRIPTS)
    assert {name for name, _ in wanted} == {"vega", "vega-lite", "vega-embed"}, VegaRenderer.SCRIPTS
    if not (ROOT / "data/results/self_report_vs_behaviour.csv").exists():
        pytest.skip("no data-driven plot to draw: data/results/ has not been produced in this checkout")
    dvc = shutil.which("dvc", path=str(Path(sys.executable).parent)) or "dvc"
    r = subprocess.run([dvc, "plots", "show", "-o", str(tmp_path / "plots")], cwd=ROOT, capture_output=True,
                       text=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"}, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    html = (tmp_path / "plots" / "index.html").read_text(encoding="utf-8")
    assert not re.findall(r"<script[^>]*\bsrc\s*=", html, re.I), "a script is loaded from elsewhere"
    assert "cdn.jsdelivr" not in html
    for name, version in wanted:  # each library inline, at the version DVC's page would load
        m = re.search(rf'<script type="text/javascript" data-package="{name}@{re.escape(version)}">\n(.*?)\n\s*</script>',
                      html, re.S)
        assert m and len(m.group(1)) > 50_000, f"{name}@{version} is not inline"
    assert "vegaEmbed('#data_results_self_report_vs_behaviour_csv'" in html  # a data-driven plot is drawn by it
