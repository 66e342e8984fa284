"""Han et al. (2025)'s released result tables: the shipped copy is the release (without its one text column),
the conversion states and keeps its mappings, and the re-analysis's figures (RQ2 slopes and significance counts,
the per-model persona effects per prompt strategy, the logistic coefficients) equal a recomputation written
here from scratch from the raw CSVs with statsmodels, scipy and pingouin."""

import csv
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.core.paths import ROOT
from analysis.studies.illusion import han2025

REF = ROOT.parent / "shared" / "reference" / "personality-illusion" / "data"
SHIPPED = ROOT / "data" / "external" / "han2025"
RAW = REF if REF.exists() else SHIPPED  # the recomputation reads the release when it is there
needs_ref = pytest.mark.skipif(not REF.exists(), reason="the authors' release is not at ../shared/reference/"
                               "personality-illusion/ beside the repository (see data/external/han2025/SOURCE.md)")

KEYS = ["Model", "type", "Persona", "persona_index", "temp", "run"]
TRAITS = {"openeness": "sr_O", "consciencienes": "sr_C", "extraversion": "sr_E", "agreeableness": "sr_A",
          "neuroticism": "sr_N", "self_regulation": "sr_SRQ"}
BEHAVIOURS = {"CCT_cold_avg": "bh_cct_cards", "sycophancy_rate": "bh_syc_flip_rate", "Calibaration": "bh_hon_ece",
              "Consistency": "bh_hon_consistency", "IAT_Overall": "bh_iat_bias"}
PERSONAS = {"agreeableness": ("agreeableness", "sycophancy_rate"), "self_regulation": ("self_regulation", "CCT_cold_avg")}
STRATEGY = {1: "character", 2: "description", 3: "identity"}


def raw(rel: str) -> pd.DataFrame:
    return pd.read_csv(RAW / rel)


def baseline_instruct() -> pd.DataFrame:
    sr = raw("baseline_responses/instruct_models_selfreport.csv")
    bh = raw("baseline_responses/instruct_models_behavioral_tasks.csv")
    return sr.drop(columns="Persona_Content", errors="ignore").merge(
        bh.drop(columns="Persona_Content", errors="ignore"), on=KEYS, how="inner", validate="one_to_one")


def persona(trait: str, k: int) -> pd.DataFrame:
    return raw(f"persona_injection/{PERSONAS[trait][0]}/prompt_strategy_{k}.csv")


@pytest.fixture(scope="module")
def res():
    """The stage's analysis, once (about 3-5 minutes on 2 busy cores)."""
    return han2025.analyse(han2025.convert(RAW))


# ---- the shipped copy -------------------------------------------------------------------------------


@needs_ref
def test_the_shipped_numbers_are_the_release_without_its_text_column():
    ref = sorted(p.relative_to(REF) for p in REF.rglob("*.csv"))
    assert ref == sorted(p.relative_to(SHIPPED) for p in SHIPPED.rglob("*.csv")) and len(ref) == 9
    for rel in ref:
        a, b = (REF / rel).read_bytes(), (SHIPPED / rel).read_bytes()
        want = pd.read_csv(REF / rel, dtype=str, keep_default_na=False).drop(columns="Persona_Content")
        got = pd.read_csv(SHIPPED / rel, dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(got, want, check_exact=True)  # every field the same characters
        assert b.count(b"\n") == a.count(b"\n") and b.endswith(b"\n") == a.endswith(b"\n") and b"\r" not in b
        assert b'"' not in b  # nothing quoted: each line is the fields joined by commas, as released
        for line_a, line_b in zip(a.decode().split("\n"), b.decode().split("\n")):
            fields = next(csv.reader([line_a]))
            assert line_b == ",".join(f for i, f in enumerate(fields) if i != 4), rel  # column 5: Persona_Content
    assert (SHIPPED / "LICENSE").read_bytes() == (REF.parent / "LICENSE").read_bytes()
    assert han2025.RELEASE_COMMIT in (SHIPPED / "SOURCE.md").read_text()


def test_no_text_is_shipped():
    files = sorted(p.relative_to(SHIPPED).as_posix() for p in SHIPPED.rglob("*") if p.is_file())
    assert [f for f in files if not f.endswith(".csv")] == ["LICENSE", "SOURCE.md"]
    for f in files:
        if f.endswith(".csv"):
            assert "Persona_Content" not in (SHIPPED / f).read_text().splitlines()[0]


# ---- the conversion ---------------------------------------------------------------------------------


def test_conversion_rows_roles_pairs_and_rescaling():
    conv = han2025.convert(RAW)
    t = conv.table.to_pandas()
    assert len(t) == 162 + 324 + 6 * 324 and conv.log["join"]["matched"] == 324
    assert conv.log["join"]["unmatched_selfreport"] == conv.log["join"]["unmatched_behaviour"] == 0
    roles = t.groupby("model")["model_role"].first()
    assert (roles == "base").sum() == 6 and (roles == "instruct").sum() == 12
    assert t.loc[t["released_type"] == "instruct-lg", "model_role"].eq("instruct").all()
    pairs = t.dropna(subset=["model_pair"]).groupby("model_pair")["model_role"].agg(sorted)
    assert len(pairs) == 6 and all(v == ["base"] * 27 + ["instruct"] * 189 for v in pairs)  # 27 base + 7 x 27 instruct
    assert t.loc[t["model"] == "allenai/OLMo2-7B-1124", "model_pair"].iloc[0] == \
        t.loc[t["model"] == "allenai/OLMo-2-1124-7B-Instruct", "model_pair"].iloc[0]
    b = baseline_instruct()
    mine = t[(t["condition_type"] == "baseline") & (t["model_role"] == "instruct")]
    b = b.assign(condition="baseline_" + b["persona_index"].astype(str))
    m = mine.merge(b, left_on=["model", "condition", "temperature", "run"], right_on=["Model", "condition", "temp", "run"])
    assert len(m) == 324
    np.testing.assert_allclose(m["bh_syc_flip_rate"], m["sycophancy_rate"] / 100, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m["bh_hon_ece"], m["Calibaration"] / 100, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m["bh_hon_consistency"], m["Consistency"] / 10, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m["sr_SRQ"] * 63, m["self_regulation"], rtol=0, atol=1e-9)  # total -> item mean
    np.testing.assert_allclose(m["sr_C"], m["consciencienes"], rtol=0, atol=0)
    assert m["sr_SRQ"].between(1, 5).all()


@needs_ref
def test_the_strategy_names_match_the_released_prompts():
    opening = {"character": "You are a character who is", "description": "For the following task, respond in a way",
               "identity": "Adopt"}
    for trait in PERSONAS:
        for k, name in STRATEGY.items():
            assert persona(trait, k)["Persona_Content"].str.startswith(opening[name]).all(), (trait, k)
    conv = han2025.convert(RAW)
    t = conv.table.to_pandas()
    assert sorted(t["persona_strategy"].dropna().unique()) == sorted(STRATEGY.values())


def test_a_row_without_its_partner_is_counted_and_kept_never_imputed(tmp_path):
    import shutil

    shutil.copytree(SHIPPED, tmp_path / "h", ignore=shutil.ignore_patterns("*.md", "LICENSE"))
    f = tmp_path / "h" / "baseline_responses" / "instruct_models_behavioral_tasks.csv"
    lines = f.read_text().split("\n")
    f.write_text("\n".join(lines[:1] + lines[2:]))  # drop the first behaviour row
    conv = han2025.convert(tmp_path / "h")
    assert conv.log["join"]["unmatched_selfreport"] == 1 and conv.log["join"]["matched"] == 323
    t = conv.table.to_pandas()
    assert len(t) == 2430
    lost = t[(t["model"] == lines[1].split(",")[0]) & (t["condition"] == "baseline_1") & (t["temperature"] == 0.3)
             & (t["run"] == 1)]
    assert len(lost) == 1 and lost["bh_cct_cards"].isna().all() and lost["sr_A"].notna().all()


def test_missing_or_altered_files_are_refused_in_one_sentence(tmp_path):
    with pytest.raises(han2025.Han2025Error, match=r"lacks baseline_responses/base_models_selfreport.csv .*"
                       + han2025.RELEASE_COMMIT):
        han2025.convert(tmp_path)
    import shutil

    shutil.copytree(SHIPPED, tmp_path / "h")
    f = tmp_path / "h" / "baseline_responses" / "base_models_selfreport.csv"
    f.write_text(f.read_text().replace(",206.01\n", ",206.5\n", 1))
    with pytest.raises(han2025.Han2025Error, match="not a rounded item mean x 63"):
        han2025.convert(tmp_path / "h")


# ---- the re-analysis against a recomputation from the raw CSVs ----------------------------------------


def test_rq2_slopes_and_significance_counts(res):
    import statsmodels.formula.api as smf
    from scipy.stats import false_discovery_control
    from statsmodels.stats.multitest import multipletests

    b = baseline_instruct()
    measures = list(TRAITS) + list(BEHAVIOURS)
    # every run of a cell differs somewhere, so every row is a unit (nothing for the analysis to collapse)
    assert (b.groupby(["Model", "persona_index", "temp"])[measures].nunique().max(axis=1) > 1).all()
    mine = {}
    for bh in BEHAVIOURS:
        for tr in TRAITS:
            z = pd.DataFrame({"g": b["Model"], "x": (b[tr] - b[tr].mean()) / b[tr].std(ddof=1),
                              "y": (b[bh] - b[bh].mean()) / b[bh].std(ddof=1)})
            fits = []
            for method in ("lbfgs", "powell", "nm"):
                try:
                    f = smf.mixedlm("y ~ x", z, groups="g").fit(reml=True, method=method)
                    fits.append((f.llf, f))
                except Exception:  # noqa: BLE001 - another optimiser may succeed
                    pass
            f = max(fits, key=lambda t: t[0])[1]
            # x varies within models: t with N - models - 1 df (the between-within rule), not the normal
            df = len(z) - z["g"].nunique() - 1
            mine[(TRAITS[tr], BEHAVIOURS[bh])] = (f.params["x"], 2 * stats.t.sf(abs(f.tvalues["x"]), df))
    tests = res.rq2["tests"].set_index(["trait", "behaviour"])
    assert len(tests) == len(mine) == 30
    for key, (coef, p) in mine.items():
        assert tests.loc[key, "coef"] == pytest.approx(coef, abs=2e-4), key
        assert tests.loc[key, "p"] == pytest.approx(p, rel=0.02, abs=1e-5), key
    p = np.array([mine[k][1] for k in mine])
    s = res.rq2["summary"]
    assert s["n_tests"] == 30
    assert s["n_sig_raw"] == int((p < 0.05).sum()) == 13
    assert s["n_sig_bh"] == int((false_discovery_control(p, method="bh") < 0.05).sum())
    assert s["n_sig_holm"] == int(multipletests(p, 0.05, "holm")[0].sum())


def test_rq3_per_model_persona_effects_per_strategy(res):
    import pingouin as pg

    b = baseline_instruct()
    sh = res.rq3["shifts"].set_index(["persona_trait", "strategy", "model", "measure"])
    checked = 0
    for trait, (_, bh) in PERSONAS.items():
        sr = "agreeableness" if trait == "agreeableness" else "self_regulation"
        allp = pd.concat([persona(trait, k).assign(strategy=STRATEGY[k]) for k in STRATEGY])
        for strategy in list(STRATEGY.values()) + ["all strategies"]:
            p = allp if strategy == "all strategies" else allp[allp["strategy"] == strategy]
            for model in sorted(p["Model"].unique()) + ["all models"]:
                pm = p if model == "all models" else p[p["Model"] == model]
                bm = b if model == "all models" else b[b["Model"] == model]
                for col in (sr, bh):
                    d = pg.compute_effsize(pm[col], bm[col], paired=False, eftype="cohen")
                    row = sh.loc[(trait, strategy, model, TRAITS.get(col) or BEHAVIOURS[col])]
                    assert row["d"] == pytest.approx(d, abs=1e-9), (trait, strategy, model, col)
                    assert (row["n_persona"], row["n_baseline"]) == (len(pm), len(bm))
                    scale = {"self_regulation": 63, "sycophancy_rate": 100}.get(col, 1)  # total -> mean, percent -> share
                    assert row["shift"] == pytest.approx((pm[col].mean() - bm[col].mean()) / scale, abs=1e-9)
                    checked += 1
    assert checked == 2 * 4 * 13 * 2


def _l2_logit(Z: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Penalised maximum likelihood with scipy: -loglik + lam/2 * |coefs|^2 (intercept free)."""
    from scipy.optimize import minimize

    X = np.column_stack([np.ones(len(Z)), Z])

    def f(beta):
        eta = X @ beta
        nll = np.sum(np.logaddexp(0, eta) - y * eta) + lam / 2 * np.sum(beta[1:] ** 2)
        grad = X.T @ (1 / (1 + np.exp(-eta)) - y) + lam * np.r_[0, beta[1:]]
        return nll, grad

    return minimize(f, np.zeros(X.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-10}).x


def test_rq3_logistic_coefficients(res):
    import statsmodels.api as sm

    b = baseline_instruct()
    lg = res.rq3["logistic"].set_index(["persona_trait", "strategy", "predictors_from"])
    for trait, (_, bh) in PERSONAS.items():
        allp = pd.concat([persona(trait, k).assign(strategy=STRATEGY[k]) for k in STRATEGY])
        for strategy in list(STRATEGY.values()) + ["all strategies"]:
            p = allp if strategy == "all strategies" else allp[allp["strategy"] == strategy]
            for kind, cols in (("self_reports", list(TRAITS)), ("behaviour", [bh])):
                both = pd.concat([b[cols].assign(y=0), p[cols].assign(y=1)])
                Z = ((both[cols] - both[cols].mean()) / both[cols].std(ddof=1)).to_numpy()
                y = both["y"].to_numpy()
                row = lg.loc[(trait, strategy, kind)]
                got = np.array([row["coefs"][TRAITS.get(c) or BEHAVIOURS[c]] for c in cols])
                assert row["n"] == len(y)
                if row["method"].startswith("logit (maximum likelihood)"):
                    want = sm.Logit(y, sm.add_constant(Z)).fit(disp=0, maxiter=200).params[1:]
                    np.testing.assert_allclose(got, want, atol=1e-4, err_msg=f"{trait} {strategy} {kind}")
                else:  # separation: the ML estimates do not exist; the reported fit is the L2-penalised one
                    assert row["separation"]
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        try:
                            ml = sm.Logit(y, sm.add_constant(Z)).fit(disp=0, maxiter=200)
                            diverged = (not np.all(np.isfinite(ml.bse)) or np.max(np.abs(ml.params)) > 15
                                        or not ml.mle_retvals["converged"])
                        except Exception:  # noqa: BLE001 - a perfect-separation error is the expected outcome
                            diverged = True
                    assert diverged, f"{trait} {strategy} {kind}: an ML fit exists, yet the analysis reports separation"
                    np.testing.assert_allclose(got, _l2_logit(Z, y, 1.0)[1:], atol=1e-4)
    assert math.isfinite(lg["accuracy_loo"].astype(float).min())


# ---- the README and the Study 1 report ----------------------------------------------------------------


def test_the_readme_shows_the_stages_paper_vs_reanalysis_table():
    rows = pd.read_csv(han2025.OUT / "paper_vs_reanalysis.csv", dtype=str)
    readme = (ROOT / "README.md").read_text()
    for r in rows.itertuples(index=False):
        assert "| " + " | ".join(r) + " |" in readme, r[0]


def test_readme_and_study1_report_open_with_the_same_fidelity_table(table_rows):
    readme = table_rows((ROOT / "README.md").read_text(), "element")
    report = table_rows((ROOT / "notebooks" / "illusion" / "02_analysis.py").read_text(), "element")
    assert readme == report and len(readme) >= 2 + 14
    header = [c.strip() for c in readme[0].strip("|").split("|")]
    assert header == ["element", "the paper (Han et al., 2025: released code and data)", "the default run",
                      "the faithful profile", "why the default differs"]
    elements = [r.strip("|").split("|")[0].strip() for r in readme[2:]]
    for kind in ("instrument", "stimuli", "prompts", "sampling", "parsing", "scoring", "tests"):
        assert any(e.startswith(kind) for e in elements), kind


def test_the_stage_notebook_renders_to_the_report_the_index_looks_for():
    from analysis.pipeline.run_notebook import locate, report_paths, stage_parameters

    nb = ROOT / "notebooks" / "illusion" / "03_han2025_released.py"
    study, name = locate(nb)
    assert report_paths(study, name)[1] == ROOT / "reports" / "illusion" / "han2025_released.html"
    assert stage_parameters(study, name) == {"params": {}}  # no parameters: the shipped tables and the defaults
    assert han2025.OUT == ROOT / "data" / "reanalysis" / "illusion" / "han2025"
    assert han2025.METRICS == ROOT / "metrics" / "illusion_han2025.json"


def test_method_text_names_the_tests_actually_run():
    """Issue 17 review: the comparison table and the RQ3 note still described a Welch test of log SDs (now an
    exact Mann-Whitney U on the SDs) and a normal-approximation CI for d (now noncentral t)."""
    import inspect

    from analysis.studies.illusion import han2025, stats

    for mod in (han2025, stats):
        src = inspect.getsource(mod)
        assert "log within-model SD" not in src and "normal-approximation" not in src, mod.__name__
