"""Write reports/index.html: what this run is (models with their weights digests, the commit, its scale and
cost, what it can and cannot show), then every study of the registry (in its order, with its title and
question), each with the headline its analysis computed and links to its rendered notebooks.

* **Headline:** the first paragraph of the summary each study's analysis writes (``summary.md``), shown
  whole: every study's summary writer opens with its finding, n and CI. It is rendered as Markdown, so
  ``self_regulation`` keeps its underscore.
* **Extra reports:** a study's report folder may hold more pages than its two notebooks (for example the
  re-analysis of released data). Such a page ``reports/<study>/<name>.html`` gets its own box, titled by the
  page's first heading, with the headline of ``data/reanalysis/<study>/<dir>/summary.md`` where ``<name>`` is
  ``<dir>`` or starts with ``<dir>_``.
* **Scale and cost:** from each collection's ``data/raw/<study>/run_info.json`` (per model: the weights
  digest, the distinct calls the answers rest on and the model time recorded when they were made).
* **What it can and cannot show:** one computed sentence: per study, this run's distinct calls against the calls
  its paper-scale profile (``profiles/<study>_paper*.yaml``) plans, counted offline without a store.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from analysis.core.metrics import summary_path
from analysis.core.paths import DATA_DIR, REPORTS_DIR, ROOT
from analysis.studies import all_studies

PROFILES_DIR = ROOT / "profiles"

EXTRA = {"synthesis": ("Across the studies: does behaviour move with self-report?",
                       "When a persona or a framing moves what a model says about itself, does its behaviour move "
                       "with it? (Studies 1-3 side by side, from the results database.)")}
NOTEBOOK_PAGES = ("01_collect", "02_analysis")
PAGE_NAMES = {"01_collect": "collection report (what was asked, validity, cost)",
              "02_analysis": "analysis report (results, figures, interpretation)",
              "across_studies": "analysis report (results, figures, interpretation)"}
# the code of the run: a change here after the commit makes the run differ from what the commit holds
CODE_PATHS = ("analysis", "notebooks", "params.yaml", "dvc.yaml", "data/stimuli", "data/instruments", "templates")


def headline(markdown: str) -> str:
    """The first paragraph of a computed summary, whole (never cut), as Markdown."""
    return markdown.strip().split("\n\n")[0].strip()


def md_html(markdown: str) -> str:
    """Markdown to HTML (inline and lists), escaping any raw HTML in the text."""
    import mistune

    return mistune.create_markdown(escape=True, plugins=[])(markdown).strip()


def summary_headline(path: Path) -> str:
    return headline(path.read_text(encoding="utf-8")) if path.exists() else ""


def page_title(page: Path) -> str:
    """The first <h1> of a rendered report (its notebook's title), without nbconvert's anchor link."""
    text = page.read_text(encoding="utf-8", errors="replace")
    m = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.S)
    if not m:
        return page.stem.replace("_", " ")
    inner = re.sub(r"<a class=.anchor-link.*?</a>", "", m.group(1), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", inner)).strip() or page.stem


def extra_summary(study: str, page: Path, data_dir: Path = DATA_DIR) -> Path | None:
    """The computed summary of an extra report page: data/reanalysis/<study>/<dir>/summary.md, where the page's
    name is <dir> or starts with <dir>_ (the longest such dir)."""
    base = data_dir / "reanalysis" / study
    found = [d for d in sorted(base.glob("*/summary.md"))
             if page.stem == d.parent.name or page.stem.startswith(d.parent.name + "_")]
    return max(found, key=lambda d: len(d.parent.name)) if found else None


def git_commit() -> str:
    """The commit the run's code comes from, and whether that code had uncommitted changes."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *CODE_PATHS], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not known (not a git checkout)"
    return f"<code>{sha}</code>" + (" with uncommitted changes to the code or parameters" if dirty else "")


def run_cost(studies: list[str], data_dir: Path = DATA_DIR) -> dict[str, dict]:
    """Per model: weights digest, and per study the distinct calls and recorded model seconds (run_info.json)."""
    models: dict[str, dict] = {}
    for sid in studies:
        path = data_dir / "raw" / sid / "run_info.json"
        if not path.exists():
            continue
        info = json.loads(path.read_text(encoding="utf-8"))
        for spec, m in (info.get("models") or {}).items():
            entry = models.setdefault(spec, {"digests": set(), "studies": {}})
            if m.get("digest"):
                entry["digests"].add(m["digest"])
            entry["studies"][sid] = (m.get("calls_recorded"), m.get("model_seconds_recorded"))
    return models


def _dur(seconds: float) -> str:
    return f"{seconds:,.0f} s" if seconds < 120 else f"{seconds / 60:,.1f} min"


def run_box(models: dict[str, dict], planned: dict[str, tuple[int, bool]] | None = None) -> list[str]:
    """The opening box: models and digests, commit, scale and cost, and what the run can and cannot show."""
    out = ["<div class='run'><h2>This run</h2><ul>"]
    if not models:
        out.append("<li>No collection has run yet (no <code>data/raw/*/run_info.json</code>).</li>")
    calls_all, secs_all, unknown = 0, 0.0, []
    for spec, m in models.items():
        digests = ", ".join(f"<code>{html.escape(d[:16])}</code>" for d in sorted(m["digests"])) or "not recorded"
        per = []
        for sid, (calls, secs) in m["studies"].items():
            if calls is None:
                unknown.append(sid)
                per.append(f"{html.escape(sid)}: cost not recorded")
                continue
            calls_all, secs_all = calls_all + calls, secs_all + (secs or 0.0)
            per.append(f"{html.escape(sid)} {calls:,} calls, {_dur(secs or 0.0)}")
        out.append(f"<li>Model <code>{html.escape(spec)}</code>, weights digest {digests}: {'; '.join(per)}.</li>")
    if models:
        out.append(f"<li>Scale and cost: {calls_all:,} distinct model calls, {_dur(secs_all)} of model time recorded "
                   "when each answer was made (a replay from the response store costs no model time)"
                   + (f"; not recorded for {', '.join(sorted(set(unknown)))}" if unknown else "") + ".</li>")
    out.append(f"<li>Code: commit {git_commit()}; pages rendered {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by "
               "<code>dvc repro</code>.</li></ul>")
    out.append(scope_paragraph(models, planned) + "</div>")
    return out


def paper_scale_plan(profiles_dir: Path = PROFILES_DIR) -> dict[str, tuple[int, bool]]:
    """Per study: the distinct calls its paper-scale profile (``profiles/<study>_paper*.yaml``) plans, summed
    over the profile's models, and whether that count is exact (else a lower bound); counted by
    :func:`analysis.pipeline.plan.plan` without a store and offline (no model is called)."""
    from analysis.pipeline.plan import plan

    out: dict[str, tuple[int, bool]] = {}
    for sid in all_studies():
        for prof in sorted(profiles_dir.glob(f"{sid}_paper*.yaml")):
            with contextlib.redirect_stderr(io.StringIO()):  # the profile's changes to shared keys: not for here
                df = plan(profile=prof, studies=[sid], cached=False, offline=True)
            tot = df.filter(df["part"] == "total")
            out[sid] = (int(tot["calls"].sum()), bool(tot["exact"].all()))
            break
    return out


OF_PLANNED = ("Of the distinct model calls the paper-scale profiles (<code>profiles/&lt;study&gt;_paper*.yaml</code>, "
              "counted by <code>python -m analysis.pipeline.plan</code>) plan, this run made ")


def _pct(p: float) -> str:
    return f"{p:.2g}" if p < 10 else f"{p:,.0f}"


def scope_paragraph(models: dict[str, dict], planned: dict[str, tuple[int, bool]] | None) -> str:
    """One sentence: this run's distinct calls per study as a fraction of the calls the paper-scale profiles
    plan, and what that lets the run show."""
    head = "<p class='scope'><strong>What this run can and cannot show.</strong> "
    names = ", ".join(f"<code>{html.escape(s)}</code>" for s in models) or "the configured models"
    done: dict[str, int] = {}
    for m in models.values():
        for sid, (calls, _) in m["studies"].items():
            if calls is not None:
                done[sid] = done.get(sid, 0) + calls
    parts, below = [], False
    for sid, (calls, exact) in (planned or {}).items():
        if sid not in done or calls <= 0:
            continue
        frac = done[sid] / calls
        below = below or frac < 1
        parts.append(f"{html.escape(sid)} {done[sid]:,} of {'' if exact else 'at least '}{calls:,} "
                     f"({_pct(100 * frac)}%{'' if exact else ' at most'})")
    if not parts:
        return (head + f"No paper-scale profile could be compared with this run's calls on {names} "
                "(<code>profiles/&lt;study&gt;_paper*.yaml</code>, counted by <code>python -m analysis.pipeline.plan</code>), "
                "so its scale against the papers' is not stated here.</p>")
    if below:
        return (head + OF_PLANNED + "; ".join(parts) + ", so it shows what each measurement gives for "
                f"{names} with intervals that say how little a sample this size decides, but not how the papers' "
                "models behave at the papers' scale.</p>")
    return (head + OF_PLANNED + "; ".join(parts) + ", so its results stand at the papers' scale for "
            f"{names}, though not for the papers' own models unless these are they.</p>")


def study_box(title: str, question: str, found: str, pages: list[tuple[str, str]]) -> list[str]:
    out = [f"<section><h2>{html.escape(title)}</h2>"]
    if question:
        out.append(f"<p class='q'><em>{html.escape(question)}</em></p>")
    if found:
        out.append(f"<div class='found'>{md_html(found)}</div>")
    else:
        out.append("<p class='found'>No computed summary yet: run this study's analysis stage.</p>")
    if pages:
        out.append("<ul>" + "".join(f"<li><a href='{html.escape(href)}'>{html.escape(label)}</a></li>"
                                    for href, label in pages) + "</ul>")
    else:
        out.append("<p>No report rendered yet.</p>")
    out.append("</section>")
    return out


def build(data_dir: Path = DATA_DIR, reports_dir: Path = REPORTS_DIR,
          planned: dict[str, tuple[int, bool]] | None = None) -> tuple[str, int]:
    """The index page and the number of report pages it links (``planned``: the paper-scale call counts;
    default :func:`paper_scale_plan`)."""
    studies = all_studies()

    def summ(sid: str) -> Path:  # where the study's analysis writes its summary, under data_dir
        return data_dir / summary_path(sid).relative_to(DATA_DIR)

    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             "<title>LLM psychometrics: study reports</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:54em;margin:2em auto;padding:0 1em;"
             "line-height:1.45;overflow-wrap:anywhere}li{margin:.3em 0}"
             ".found{background:#f4f6f8;padding:.4em .9em;border-left:3px solid #8aa}.found p{margin:.4em 0}"
             ".run{background:#fbf8ef;padding:.2em 1em;border-left:3px solid #c9a}.q{color:#333}"
             "code{font-size:.92em}section{margin-top:1.6em}</style></head><body>",
             "<h1>LLM psychometrics: study reports</h1>"]
    parts += run_box(run_cost(list(studies), data_dir), paper_scale_plan() if planned is None else planned)
    n = 0
    sections = [(sid, s.title, s.question) for sid, s in studies.items()]
    sections += [(k, t, q) for k, (t, q) in EXTRA.items()]
    for sid, title, question in sections:
        pages = sorted((reports_dir / sid).glob("*.html"))
        main = [p for p in pages if p.stem in NOTEBOOK_PAGES or sid in EXTRA]
        extra = [p for p in pages if p not in main]
        links = [(p.relative_to(reports_dir).as_posix(), PAGE_NAMES.get(p.stem, p.stem)) for p in main]
        parts += study_box(title, question, summary_headline(summ(sid)), links)
        n += len(links)
        for p in extra:
            s = extra_summary(sid, p, data_dir)
            parts += study_box(page_title(p), "", summary_headline(s) if s else "",
                               [(p.relative_to(reports_dir).as_posix(), "report")])
            n += 1
    parts.append("</body></html>")
    return "\n".join(parts), n


def main() -> None:
    page, n = build()
    out = REPORTS_DIR / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    print(f"wrote {out} ({n} reports)", file=sys.stderr)


if __name__ == "__main__":
    main()
