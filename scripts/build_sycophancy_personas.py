"""Write data/stimuli/sycophancy/personas.csv: the default 275 personas of Study 2.

The personas are a pure function of the phrase banks (data/stimuli/sycophancy/persona_phrases.yaml)
and (n, seed) (see analysis/studies/sycophancy/personas.py); the CSV is committed so that it can be
reviewed, and tests/studies/sycophancy/test_personas.py checks that regenerating it gives the same
file byte for byte.
With --control it writes data/stimuli/sycophancy/control_personas.csv instead: 50 control personas (seed 2605)
from control_phrases.yaml, whose levels describe Conscientiousness (ids c01 ...).
Usage: python scripts/build_sycophancy_personas.py [--control] [--n N] [--seed S] [--phrases PATH] [--out PATH]
"""

import argparse
from pathlib import Path

from analysis.core.io import write_text
from analysis.studies.sycophancy.personas import (
    CONTROL_N,
    CONTROL_PHRASES_FILE,
    CONTROL_SEED,
    DEFAULT_N,
    DEFAULT_SEED,
    PHRASES_FILE,
    personas_csv_text,
)
from analysis.studies.sycophancy.stimuli import CONTROL_PERSONAS_CSV, PERSONAS_CSV


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--control", action="store_true", help="the Conscientiousness control personas")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--phrases", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    c = a.control
    a.n = a.n if a.n is not None else (CONTROL_N if c else DEFAULT_N)
    a.seed = a.seed if a.seed is not None else (CONTROL_SEED if c else DEFAULT_SEED)
    a.phrases = a.phrases or (CONTROL_PHRASES_FILE if c else PHRASES_FILE)
    a.out = a.out or (CONTROL_PERSONAS_CSV if c else PERSONAS_CSV)
    write_text(personas_csv_text(a.n, a.seed, a.phrases, "c" if c else "p"), a.out)
    print(f"wrote {a.out} ({a.n} personas, seed {a.seed}, phrases {a.phrases})")


if __name__ == "__main__":
    main()
