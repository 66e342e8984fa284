import math

import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.store import ResponseStore


@pytest.fixture
def store(tmp_path):
    return ResponseStore(tmp_path / "responses.sqlite")


@pytest.fixture
def make_elicitor(store):
    def make(reply=lambda m, o: "3", next_token=None, **kw):
        el = Elicitor(ScriptedTarget(reply, next_token, **kw), store, progress=False)
        return el

    return make


def dist(**probs):
    """A next-token distribution helper: dist(**{'1': .2, '2': .8})."""
    assert math.isclose(sum(probs.values()), 1.0, abs_tol=1e-9) or sum(probs.values()) < 1
    return probs
