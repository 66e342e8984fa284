"""On the real embedded 0.5B: a collection killed with kill -9 and resumed equals an uninterrupted one, with
no call repeated and no row lost (issue 11). With ``cache_prompt: false`` the two are bit-identical; with the
prefix cache on, answers computed after the resume start from a cold cache, so their log-probabilities may
differ in the last digits: the tolerance is stated and checked here (and the resumed rows are still exact
re-runs, because a re-run is answered from the store)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]
N_ITEMS = 10
# expected Likert score (1-5): largest difference allowed between a resumed and an uninterrupted run when
# the prefix cache is on (measured on the 0.5B: 6.7e-3 over 16 items)
TOLERANCE_CACHED = 0.02

RUN = """
import json, sys
from analysis.core.elicit import Elicitor
from analysis.core.models import make_target
from analysis.core.store import ResponseStore
store_path, cache_prompt, out = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
el = Elicitor(make_target("embedded:qwen2.5-coder-0.5b", cache_prompt=cache_prompt), ResponseStore(store_path),
              progress=False)
stems = ["I am the life of the party.", "I feel little concern for others.", "I am always prepared.",
         "I get stressed out easily.", "I have a rich vocabulary.", "I don't talk a lot.",
         "I am interested in people.", "I leave my belongings around.", "I am relaxed most of the time.",
         "I have difficulty understanding abstract ideas.", "I feel comfortable around people.",
         "I insult people.", "I pay attention to details.", "I worry about things.", "I have a vivid imagination.",
         "I keep in the background."]
res = {}
for i, stem in enumerate(stems[:int(sys.argv[4])]):
    msgs = [{"role": "system", "content": "You are a thoughtful person."},
            {"role": "user", "content": "Rate how well this describes you, from 1 (very inaccurate) to 5 "
                                        f"(very accurate). Answer with one digit.\\nStatement: {stem}"}]
    op = el.option_probs(msgs, ["1", "2", "3", "4", "5"])
    res[stem] = op.expected()
    print(i, el.n_model_calls, flush=True)
json.dump({"scores": res, "model_calls": el.n_model_calls, "hits": el.n_store_hits}, open(out, "w"))
"""


def _run(store: Path, cache: bool, out: Path, kill_after: int | None = None) -> dict | None:
    p = subprocess.Popen([sys.executable, "-c", RUN, str(store), "1" if cache else "0", str(out), str(N_ITEMS)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if kill_after is not None:
        for line in p.stdout:
            if int(line.split()[0]) + 1 >= kill_after:
                os.kill(p.pid, signal.SIGKILL)
                break
        p.wait()
        return None
    p.communicate(timeout=1200)
    assert p.returncode == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("cache", [False, True], ids=["cache_prompt_off", "cache_prompt_on"])
def test_resume_after_kill_equals_uninterrupted(tmp_path, cache):
    import sqlite3

    whole = _run(tmp_path / "whole.sqlite", cache, tmp_path / "whole.json")
    _run(tmp_path / "resumed.sqlite", cache, tmp_path / "x.json", kill_after=N_ITEMS // 2)
    time.sleep(0.2)
    stored = sqlite3.connect(tmp_path / "resumed.sqlite").execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert 0 < stored < whole["model_calls"]
    resumed = _run(tmp_path / "resumed.sqlite", cache, tmp_path / "resumed.json")
    # 0 calls repeated, 0 rows lost: the resumed run asked the model only what the killed one had not stored
    assert resumed["hits"] == stored and resumed["model_calls"] == whole["model_calls"] - stored
    diffs = [abs(whole["scores"][k] - resumed["scores"][k]) for k in whole["scores"]]
    print(f"cache_prompt={cache}: {stored} rows before the kill, max |difference| {max(diffs):.2e}")
    if cache:
        assert max(diffs) <= TOLERANCE_CACHED
    else:
        assert whole["scores"] == resumed["scores"]  # bit-identical
