"""Every command in README.md and docs/*.md, run word for word (issue 20, point 4).

Commands are extracted from the ```bash blocks and from the inline code spans that start with a command
(`uv `, `python`, `dvc `, `git `, `bash `, `ollama `, `VAR=value cmd`). Each one is classified below:

* RUN: run exactly as written, in a `git clone` of a snapshot of the repository, with `uv run --frozen`
  building the clone's own environment from uv's cache. Expensive commands stay cheap because the response
  store (`PSY_STORE`) is seeded from the published responses first, so `dvc repro -f` replays with zero model
  calls (asserted). Plain `dvc ...` / `python ...` run with the clone's `.venv/bin` first on PATH (an
  activated environment, as the README's prose assumes).
* CHECK: inherently expensive (thousands of model calls, the whole test suite, a minutes-long benchmark):
  the command is run with a stated cheap change (`--dry`, `--collect-only`, `bash -n`), or is the literal
  part of a RUN command; the reason is stated.
* SKIP: cannot run here (an Ollama server, a llama.cpp build of 13-20 minutes, a server that runs until
  stopped); listed with the reason, never silently ignored.

A command in the docs that is not classified fails the test, as does a classification whose command left
the docs: add it to COMMANDS when you add a command to the README or a guide.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from analysis.core.paths import ROOT

pytestmark = pytest.mark.model  # minutes: a clone, its environment and a replay of every stage

DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
INLINE = re.compile(r"^(uv |python3? |dvc |git |bash |ollama |[A-Z_]+=\S+ \S)")
REPLAY = "uv run --frozen python -m analysis.pipeline.responses load && uv run --frozen dvc repro -f"
HAN_PLAN = ("uv run --frozen python -m analysis.pipeline.plan --profile profiles/illusion_han2025.yaml --study illusion "
            "--offline")
GUIDE_BLOCK = "run in full, on the tiny profile, by tests/pipeline/test_new_study.py (the guide's tested block)"

# command -> (how, why). Order matters for RUN: they run top to bottom in one clone.
COMMANDS: dict[str, tuple[str, str]] = {
    "git clone": ("run", "the clone every other command runs in is made with `git clone`"),
    "uv run --frozen dvc status": ("run", "a fresh clone is up to date but for the always-changed `resolve` "
                                   "stage: asserted that it lists only `resolve`"),
    "dvc status": ("run", "as above, with the environment activated"),
    "uv run --frozen dvc repro": ("run", "nothing to do on a fresh clone: asserted that only `resolve` runs"),
    "dvc repro": ("run", "as above, with the environment activated"),
    "uv run --frozen dvc metrics show": ("run", ""),
    "dvc metrics show": ("run", ""),
    "uv run --frozen python -m analysis.pipeline.plan": ("run", "prints the plan; calls no model"),
    "python -m analysis.pipeline.plan": ("run", ""),
    "uv run python -m analysis.pipeline.plan": ("run", ""),
    HAN_PLAN: ("run", "the faithful Study 1 profile's plan; reads the authors' materials from ../shared beside the "
                      "clone (linked there when this machine has them; else the one-sentence refusal is asserted)"),
    REPLAY: ("run", "the replay: asserted zero model calls and data/raw, data/processed, metrics unchanged"),
    "uv run --frozen python -m analysis.pipeline.responses load": ("run", "the first half of the replay"),
    "uv run --frozen dvc repro -f": ("run", "the second half of the replay, with the store seeded from the "
                                     "published responses (cold, with an empty store, it is 1,715 calls on the "
                                     "1.5B: 19 minutes)"),
    "uv run --frozen dvc repro analyze@therapy": ("run", ""),
    "uv run dvc repro": ("run", ""),
    "dvc metrics diff": ("run", ""),
    "dvc plots show": ("run", "asserted: the page loads no script from elsewhere (offline)"),
    "dvc plots diff HEAD~1": ("run", "asserted: the page loads no script from elsewhere (offline)"),
    "uv run --frozen dvc exp show --only-changed": ("run", ""),
    "dvc exp show": ("run", ""),
    'uv run --frozen python -c "from analysis.pipeline.results import connect; print(connect().sql(\'SELECT * '
    'FROM self_report_vs_behaviour\'))"': ("run", "asserted: the view has rows"),
    "uv run --frozen python -m analysis.pipeline.profile profiles/therapy_paper.yaml": (
        "run", "asserted: params.yaml changed (restored afterwards)"),
    "uv run --frozen python -m analysis.pipeline.responses export": ("run", ""),
    "uv run --frozen python -m analysis.studies.illusion.reanalyse data/examples/illusion/published_table.csv": (
        "run", ""),
    # checked
    "uv run --frozen dvc repro reanalyse_han2025": (
        "run", "up to date in a fresh clone: asserted that no stage but `resolve` runs (its forced re-run, about "
               "6 minutes, is part of the replay's `dvc repro -f`, run in full)"),
    "uv run --frozen python tests/probe_bad_inputs.py [--stages]": (
        "check", "118 bad inputs, minutes (with --stages, more): run with `--help` instead; the probe is run by "
                 "its own guard test"),
    "uv run --frozen python -m analysis.core.servers xllamacpp-serve": (
        "run", "started with `--port` set to a free port and stopped once it prints the address it serves on"),
    "python3 -m pip install uv==0.13.9 && uv run --frozen dvc repro -f": (
        "check", "pip would install into the user's own Python: checked that the uv on PATH is 0.13.9; the rest "
                 "is the replay's `uv run --frozen dvc repro -f`, run in full"),
    "python3 -m pip install uv==0.13.9 && uv run --frozen pytest": (
        "check", "the whole suite (this test among them, 10+ minutes): run with `--collect-only -q` appended"),
    "uv run --frozen pytest": ("check", "the whole suite: run with `--collect-only -q` appended"),
    'uv run --frozen pytest -m "not model"': ("check", "run with `--collect-only -q` appended"),
    "uv run --frozen dvc exp run -S 'models=[\"embedded:qwen2.5-coder-0.5b\"]'": (
        "check", "every stage on the 0.5B at the default sizes (1,600 calls): run with `--dry` appended, so DVC "
                 "applies the -S override (a bad key fails) and lists the stages; tests/pipeline/test_pipeline.py "
                 "runs experiments on both models for real on the tiny profile"),
    "uv run --frozen dvc exp run -S 'models=[\"embedded:qwen2.5-coder-1.5b\"]' -S "
    "'illusion.collect.personas.strategies=[\"character\",\"identity\"]'": (
        "check", "as above: run with `--dry` appended"),
    "uv run --frozen python -m analysis.pipeline.profile tiny --set-args | xargs uv run --frozen dvc exp run": (
        "check", "the tiny profile's real run is tests/pipeline/test_pipeline.py's: run here with `--dry` appended "
                 "to `dvc exp run`, which applies every printed -S argument (the old `$(...)` form failed there)"),
    "bash benchmarks/bench_repro.sh [--cold]": (
        "check", "re-measures the replay and a cold run (19 min) in yet another clone: `bash -n` (syntax) only"),
    "uv run --frozen python benchmarks/bench_elicitation.py": (
        "check", "a timing benchmark on the 1.5B with a fresh store: compiled only"),
    "uv run --frozen python benchmarks/bench_servers.py": (
        "check", "builds llama-server (13-20 min) and times it: compiled only"),
    "uv run --frozen python benchmarks/bench_tokens.py [--store FILE] [--live 40]": (
        "check", "tokenises all 1,715 published prompts with the 1.5B's tokenizer: compiled only (its tokenizer, "
                 "trie and single-slot simulation are tested in tests/core/test_tokens.py)"),
    "uv run jupytext --sync notebooks/$NEW/*.py": (
        "check", "needs the study the guide's block creates: run with NEW=mystudy on the template's notebooks "
                 "copied to notebooks/mystudy"),
    # skipped
    "ollama pull llama3.1:8b": ("skip", "needs an Ollama server and a 4.7 GB download"),
    "ollama serve": ("skip", "needs Ollama installed; a server that runs until stopped"),
    "uv run --frozen python -m analysis.core.servers llama": (
        "skip", "builds llama.cpp's llama-server (13-20 min on 2 cores), then serves until stopped; "
                "tests/servers run the same server code"),
    "uv run --frozen python -m analysis.core.servers ollama": (
        "skip", "serves until stopped; tests/servers run it on a real socket"),
    "PSY_TEST_SERVER=llama-server uv run --frozen pytest tests/servers": (
        "skip", "builds llama-server (13-20 min); tests/servers run by default against xllamacpp's server"),
    "uv run --frozen jupyter lab": ("skip", "a server that runs until stopped"),
    "uv run jupyter lab": ("skip", "a server that runs until stopped"),
    "uv run dvc repro analyze@$NEW": ("check", GUIDE_BLOCK),
}


def doc_commands() -> dict[str, str]:
    """command -> the doc it is in: every line of every ```bash block, every inline command span."""
    found: dict[str, str] = {}
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        guide_block = "run, word for word, by tests/pipeline/test_new_study.py"
        for m in re.finditer(r"(<!--[^\n]*-->\n)?```bash\n(.*?)```", text, re.S):
            if m.group(1) and guide_block in m.group(1):
                found.setdefault(f"<{doc}: the add-a-study block>", doc)
                continue
            for line in m.group(2).splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    found.setdefault(line, doc)
        prose = re.sub(r"```bash\n.*?```", "", text, flags=re.S)  # other blocks (the layout tree) keep their spans
        prose = re.sub(r"^\s*```\w*\s*$", "", prose, flags=re.M)
        for span in re.findall(r"`([^`]+)`", prose):
            span = " ".join(span.split())
            if INLINE.match(span):
                found.setdefault(span, doc)
    return found


def test_every_command_in_the_docs_is_classified():
    found = doc_commands()
    known = set(COMMANDS) | {f"<{d}: the add-a-study block>" for d in DOCS}
    missing = sorted(c for c in found if c not in known)
    assert not missing, ("commands in the docs that tests/pipeline/test_readme_commands.py neither runs, checks "
                         f"nor skips with a reason; add them to COMMANDS: {missing}")
    gone = sorted(c for c in COMMANDS if c not in found)
    assert not gone, f"COMMANDS lists commands no doc has any more (remove or update them): {gone}"
    assert "docs/ADD_A_STUDY.md" in DOCS and "<docs/ADD_A_STUDY.md: the add-a-study block>" in found


def run(cmd: str, cwd: Path, env: dict, timeout: float = 3000) -> str:
    r = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"`{cmd}` failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


def same_but_last_digits(dst: Path, rel: str, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """A replayed file that differs from the committed one only in floating-point digits a CPU type decides (BLAS
    kernels, an optimiser's path: measured up to 1e-15 relative for least squares and 1e-7 for a mixed model's
    variance at its boundary between the reference machine and an AMD EPYC): a CSV with the same text cells and
    numbers within ``rtol``; anything else must be byte for byte the same."""
    import io

    import numpy as np
    import polars as pl

    if not rel.endswith(".csv"):
        return False
    old = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=dst, capture_output=True, check=True).stdout
    a = pl.read_csv(io.BytesIO(old), infer_schema_length=None)
    b = pl.read_csv(dst / rel, infer_schema_length=None)
    if a.columns != b.columns or a.height != b.height:
        return False
    for c in a.columns:
        x, y = a[c], b[c]
        if x.dtype.is_numeric() and y.dtype.is_numeric():
            xv, yv = x.cast(pl.Float64).to_numpy(), y.cast(pl.Float64).to_numpy()
            if not np.allclose(xv, yv, rtol=rtol, atol=atol, equal_nan=True):
                return False
        elif x.cast(pl.Utf8).to_list() != y.cast(pl.Utf8).to_list():
            nums = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")  # numbers inside text cells (a dict of coefficients)
            for u, v in zip(x.cast(pl.Utf8).to_list(), y.cast(pl.Utf8).to_list(), strict=True):
                if u == v:
                    continue
                if u is None or v is None or nums.sub("#", u) != nums.sub("#", v):
                    return False
                if not np.allclose([float(t) for t in nums.findall(u)], [float(t) for t in nums.findall(v)],
                                   rtol=rtol, atol=atol):
                    return False
    return True


def status_stages(out: str) -> list[str]:
    """The stages `dvc status` lists as changed (unindented lines ending in a colon)."""
    return sorted(m.rstrip(":") for m in re.findall(r"^(\S[^\n]*):\s*$", out, re.M))


def ran_stages(out: str) -> list[str]:
    """The stages `dvc repro` ran (its "Running stage 'x':" lines)."""
    return sorted(set(re.findall(r"Running stage '([^']+)'", out)))


def serve(dst: Path, env: dict, timeout: float = 600) -> None:
    """Start the README's xllamacpp-serve command on a free port; stop it once it prints its address."""
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = f"uv run --frozen python -m analysis.core.servers xllamacpp-serve --port {port}"
    p = subprocess.Popen(["bash", "-c", f"exec {cmd}"], cwd=dst, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    try:
        lines, end = [], time.monotonic() + timeout
        for line in p.stdout:
            lines.append(line)
            if line.startswith("serving:") or time.monotonic() > end:
                break
        assert any(f"@http://127.0.0.1:{port}/v1" in x for x in lines), f"`{cmd}` did not serve:\n{''.join(lines)[-2000:]}"
    finally:
        p.terminate()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def n_calls(store: Path) -> int:
    with sqlite3.connect(store) as con:
        return con.execute("SELECT count(*) FROM calls").fetchone()[0]


def offline(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert not re.findall(r"<script[^>]*\bsrc\s*=", html, re.I) and "vegaEmbed(" in html, page


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if not shutil.which("uv"):
        pytest.skip("uv is not on PATH (the README's commands all start with it)")
    tmp = tmp_path_factory.mktemp("readme")
    src = tmp / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT"))}
    env |= {"PSY_STORE": str(tmp / "store.sqlite"), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "DVC_NO_ANALYTICS": "1"}
    # two commits, so that `dvc plots diff HEAD~1` has a HEAD~1
    run("git init -q && git add -A && git commit -qm snapshot && git commit -q --allow-empty -m again", src, env)
    run("git clone -q src clone", tmp, env)  # "git clone"
    dst = tmp / "clone"
    activated = {**env, "PATH": f"{dst / '.venv' / 'bin'}:{env['PATH']}"}
    return dst, env, activated, tmp


@pytest.mark.timeout(3600)  # the replay is 83 s on a quiet 2-core machine; measured over 20 min under heavy load
def test_readme_commands_run_word_for_word_in_a_fresh_clone(clone):
    dst, env, activated, tmp = clone
    store = Path(env["PSY_STORE"])
    # (checked first: with a stale dvc.lock the `dvc repro` below would re-collect every answer cold)
    for out in (run("uv run --frozen dvc status", dst, env), run("dvc status", dst, activated)):
        assert status_stages(out) == ["resolve"], (
            "a fresh clone is not up to date but for the always-changed `resolve` stage, as the README says: "
            f"dvc.lock does not match the code; re-run the pipeline and commit its outputs and dvc.lock.\n{out[-2000:]}")
    for cmd, e in (("uv run --frozen dvc repro", env), ("dvc repro", activated),
                   ("uv run --frozen dvc repro reanalyse_han2025", env)):
        out = run(cmd, dst, e)
        # a targeted repro runs only its stage's upstream, and `resolve` is not upstream of the Han et al. stage
        expect = [] if cmd.endswith("reanalyse_han2025") else ["resolve"]
        assert ran_stages(out) == expect, f"`{cmd}` ran more than {expect} in a fresh clone:\n{out[-2000:]}"
    for cmd in ("uv run --frozen dvc metrics show", "dvc metrics show", "uv run --frozen python -m analysis.pipeline.plan",
                "python -m analysis.pipeline.plan", "uv run python -m analysis.pipeline.plan"):
        run(cmd, dst, activated if not cmd.startswith("uv ") else env)

    shared = ROOT.parent / "shared" / "reference" / "personality-illusion"
    if shared.exists():  # the profile's materials_dir is ../shared/reference/personality-illusion
        (tmp / "shared").exists() or (tmp / "shared").symlink_to(ROOT.parent / "shared")
        assert "35,403" in run(HAN_PLAN, dst, env)
    else:
        r = subprocess.run(["bash", "-c", HAN_PLAN], cwd=dst, env=env, capture_output=True, text=True)
        assert r.returncode != 0 and "a934083" in r.stderr, r.stderr[-2000:]

    # the replay: the published responses answer every call of every stage
    run(REPLAY, dst, env)
    n = n_calls(store)
    assert n > 0
    status = run("git status --porcelain -- data/raw data/processed metrics", dst, env).strip()
    changed = [line[3:] for line in status.splitlines()]
    beyond = [f for f in changed if not same_but_last_digits(dst, f)]
    assert not beyond, f"the replay changed committed results:\n{status}"
    for cmd in ("uv run --frozen dvc repro analyze@therapy", "uv run dvc repro"):
        run(cmd, dst, env)
    run("dvc metrics diff", dst, activated)
    for cmd, page in (("dvc plots show", "dvc_plots/index.html"), ("dvc plots diff HEAD~1", "dvc_plots/index.html")):
        (dst / "dvc_plots").exists() and shutil.rmtree(dst / "dvc_plots")
        run(cmd, dst, activated)
        offline(dst / page)
    run("uv run --frozen dvc exp show --only-changed", dst, env)
    run("dvc exp show", dst, activated)
    q = [c for c in COMMANDS if c.startswith('uv run --frozen python -c "from analysis.pipeline.results')][0]
    out = run(q, dst, env)
    rows = re.search(r"(\d+) rows", out)
    assert rows and int(rows.group(1)) > 0 and "illusion" in out, out
    run("uv run --frozen python -m analysis.pipeline.responses export", dst, env)
    assert (dst / "data/published/responses.parquet").exists()
    run("uv run --frozen python -m analysis.studies.illusion.reanalyse data/examples/illusion/published_table.csv",
        dst, env)
    before = (dst / "params.yaml").read_text()
    run("uv run --frozen python -m analysis.pipeline.profile profiles/therapy_paper.yaml", dst, env)
    assert (dst / "params.yaml").read_text() != before
    run("git checkout -q params.yaml", dst, env)
    assert n_calls(store) == n, "a README command called a model"

    # checked, with the stated cheap change
    assert run("uv --version", dst, env).split()[1] == "0.13.9"
    for cmd in ("uv run --frozen pytest", 'uv run --frozen pytest -m "not model"'):
        assert re.search(r"\d+ tests? collected", run(cmd + " --collect-only -q", dst, env))
    for cmd in [c for c, (how, _) in COMMANDS.items() if how == "check" and c.startswith("uv run --frozen dvc exp run")]:
        run(cmd + " --dry", dst, env)
    tiny = "uv run --frozen python -m analysis.pipeline.profile tiny --set-args | xargs uv run --frozen dvc exp run"
    assert tiny in COMMANDS
    out = run(tiny + " --dry", dst, env)
    assert "collect@bigfive" in out, out
    assert run("git status --porcelain -- params.yaml", dst, env).strip() == "", "an experiment dry run left params"
    run("bash -n benchmarks/bench_repro.sh", dst, env)
    run("uv run --frozen python tests/probe_bad_inputs.py --help", dst, env)
    serve(dst, env)
    run("uv run --frozen python -m py_compile benchmarks/bench_elicitation.py benchmarks/bench_servers.py "
        "benchmarks/bench_tokens.py", dst, env)
    run("cp -r templates/questionnaire/notebooks/mystudy notebooks/mystudy && NEW=mystudy && "
        "uv run jupytext --sync notebooks/$NEW/*.py", dst, env)
    assert (dst / "notebooks/mystudy/02_analysis.ipynb").exists()
    assert n_calls(store) == n, "a README command called a model"
