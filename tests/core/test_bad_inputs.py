"""Runs tests/probe_bad_inputs.py: at least 60 bad inputs, every one answered with one sentence (issue 11);
and its ``--stages`` probes (the stage runner, DVC, the published responses and the results stage in a copy
of the repository), marked ``model`` as slow: in the full suite, not in ``-m "not model"``."""

import importlib.util
import sys
import tempfile
from pathlib import Path

import pytest


def _probe():
    path = Path(__file__).resolve().parents[1] / "probe_bad_inputs.py"
    spec = importlib.util.spec_from_file_location("probe_bad_inputs", path)
    probe = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = probe
    spec.loader.exec_module(probe)
    return probe


def test_every_bad_input_gets_one_sentence():
    outcomes = _probe().run(log=lambda line: None)
    bad = [f"{o.name}: {o.message}" for o in outcomes if not o.ok]
    assert len(outcomes) >= 60
    assert not bad, "\n".join(bad)


@pytest.mark.model
def test_the_stage_probes_pass():
    """`probe_bad_inputs.py --stages` without the fast probes (those are the test above)."""
    probe = _probe()
    with tempfile.TemporaryDirectory(prefix="psy-probe-") as d:
        outcomes = probe.stage_probes(Path(d))
    names = [o.name for o in outcomes]
    assert any("outside instrument" in n for n in names) and any("genuine file loads" in n for n in names)
    assert any("forged file" in n for n in names) and any("results stage: kill -9" in n for n in names)
    bad = [f"{o.name}: {o.message}" for o in outcomes if not o.ok]
    assert not bad, "\n".join(bad)
