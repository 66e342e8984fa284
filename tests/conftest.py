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


def _table_rows(text: str, first_cell: str) -> list[str]:
    """The markdown table rows of ``text`` (a README, or a notebook source whose markdown lines start with "# ")
    from the table whose header starts with ``first_cell``, up to the first line that is not a table row."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip("# ").startswith(f"| {first_cell} |"))
    out = []
    for line in lines[start:]:
        line = line.removeprefix("# ").strip()
        if not line.startswith("|"):
            break
        out.append(line)
    return out


@pytest.fixture
def table_rows():
    """The reader of the studies' fidelity tables (README against each report): one definition for all three."""
    return _table_rows
