"""Does the client stay the client? Role reversal in the therapy sessions.

A small model cast as a therapy client often answers as the therapist ("I'm a licensed therapist with over 20
years of experience"), or steps out of the client's role and answers as a helpful assistant ("How can I assist
you today?"). Either makes its replies something other than a client's narrative, so every result of the study
is shown with the count of such turns. The phrases are data (``data/stimuli/therapy/role_markers.yaml``, CC0);
a turn is ``therapist`` when a therapist phrase matches, else ``assistant`` when an assistant phrase matches,
else ``client``; an empty reply is ``empty``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from analysis.core.paths import stimuli_dir

ROLE_FILE = stimuli_dir("therapy") / "role_markers.yaml"


class RoleMarkers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = 1
    as_therapist: list[str] = Field(min_length=1)
    as_assistant: list[str] = Field(min_length=1)


@cache
def _compiled(path: str) -> tuple[list[re.Pattern], list[re.Pattern]]:
    from analysis.studies.therapy.script import StimulusError, _load_yaml, _validate

    p = Path(path)
    m = _validate(RoleMarkers, _load_yaml(p, "role markers"), p, "role markers")
    try:
        comp = lambda pats: [re.compile(x, re.IGNORECASE | re.MULTILINE) for x in pats]  # noqa: E731
        return comp(m.as_therapist), comp(m.as_assistant)
    except re.error as e:
        raise StimulusError(f"The role markers file {p} has a pattern that is not a valid regular expression "
                            f"({e}).") from None


def role_of(text: str | None, path: str | Path = ROLE_FILE) -> str:
    """'therapist', 'assistant', 'client' or 'empty' for one client reply."""
    if not text or not text.strip():
        return "empty"
    therapist, assistant = _compiled(str(path))
    if any(p.search(text) for p in therapist):
        return "therapist"
    if any(p.search(text) for p in assistant):
        return "assistant"
    return "client"


def turn_roles(turns: pl.DataFrame) -> pl.DataFrame:
    """The session turns with ``role`` (:func:`role_of` of the client's reply)."""
    return turns.with_columns(pl.col("client").map_elements(role_of, return_dtype=pl.Utf8).alias("role"))


def role_counts(turns: pl.DataFrame) -> pl.DataFrame:
    """Per model: session turns, and those in which the client answered as the therapist, as an assistant, or not
    at all; ``out_of_role`` = therapist + assistant."""
    if not turns.height:
        return pl.DataFrame(schema={"model": pl.Utf8, "n_turns": pl.UInt32, "as_therapist": pl.UInt32,
                                    "as_assistant": pl.UInt32, "empty": pl.UInt32, "out_of_role": pl.UInt32})
    r = turn_roles(turns)
    return r.group_by("model").agg(
        pl.len().alias("n_turns"), (pl.col("role") == "therapist").sum().alias("as_therapist"),
        (pl.col("role") == "assistant").sum().alias("as_assistant"), (pl.col("role") == "empty").sum().alias("empty"),
    ).with_columns((pl.col("as_therapist") + pl.col("as_assistant")).alias("out_of_role")).sort("model")


def role_text(counts: pl.DataFrame, model: str) -> str:
    """'the client answered as the therapist in 1 of 33 session turns and as an assistant in 0' (one model)."""
    r = counts.filter(pl.col("model") == model)
    if not r.height:
        return ""
    x = r.row(0, named=True)
    return (f"the client answered as the therapist in {x['as_therapist']} of {x['n_turns']} session turns and as a "
            f"helpful assistant in {x['as_assistant']}")


def banned_word_use(turns: pl.DataFrame) -> pl.DataFrame:
    """Under a lexical ban (``banned_words`` on the turn rows, recorded by the collection): per model and banned
    word, the client turns that use it although the therapist never did. Empty when nothing was banned."""
    from analysis.studies.therapy.script import banned_in

    if "banned_words" not in turns.columns or not turns.height:
        return pl.DataFrame()
    rows = []
    for (model,), g in turns.group_by(["model"], maintain_order=True):
        words = [w for w in (g["banned_words"][0] or "").split("; ") if w]
        for w in words:
            used = sum(bool(banned_in({"c": c or ""}, [w])) for c in g["client"].to_list())
            rows.append({"model": model, "word": w, "client_turns_using_it": used, "n_turns": g.height})
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def contradiction_effect(turns: pl.DataFrame) -> pl.DataFrame:
    """The contradiction probe's effect, per model: the sessions that were probed, those whose client denies an
    inner life in its reply to the probe (``denies_after``), those that had denied it in an earlier turn
    (``denied_before``), and those that deny it only after being contradicted (``retracted``). Denial is the
    marker phrases of ``judge_calibration.yaml`` (``denial_markers``). Empty when no session was probed."""
    from analysis.studies.therapy.coding import denies_inner_life, load_calibration

    if "question_id" not in turns.columns or not turns.filter(pl.col("question_id") == "contradiction").height:
        return pl.DataFrame()
    t = turns.sort("model", "session", "turn").with_columns(
        denies_inner_life(load_calibration().denial_markers).alias("_d"))
    probe = t.filter(pl.col("question_id") == "contradiction").select("model", "session", "turn",
                                                                      pl.col("_d").alias("after"))
    before = t.join(probe.select("model", "session", pl.col("turn").alias("_pt")), on=["model", "session"]) \
        .filter(pl.col("turn") < pl.col("_pt")).group_by("model", "session").agg(pl.col("_d").any().alias("before"))
    m = probe.join(before, on=["model", "session"], how="left").with_columns(pl.col("before").fill_null(False))
    return m.group_by("model").agg(
        pl.len().alias("sessions_probed"), pl.col("after").sum().alias("denies_after"),
        pl.col("before").sum().alias("denied_before"),
        (pl.col("after") & ~pl.col("before")).sum().alias("retracted")).sort("model")
