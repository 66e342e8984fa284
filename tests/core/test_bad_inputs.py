"""Runs tests/probe_bad_inputs.py: at least 60 bad inputs, every one answered with one sentence (issue 11)."""

import importlib.util
import sys
from pathlib import Path


def test_every_bad_input_gets_one_sentence():
    path = Path(__file__).resolve().parents[1] / "probe_bad_inputs.py"
    spec = importlib.util.spec_from_file_location("probe_bad_inputs", path)
    probe = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = probe
    spec.loader.exec_module(probe)
    outcomes = probe.run(log=lambda line: None)
    bad = [f"{o.name}: {o.message}" for o in outcomes if not o.ok]
    assert len(outcomes) >= 60
    assert not bad, "\n".join(bad)
