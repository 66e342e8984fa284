"""Write data/stimuli/sycophancy/personas.csv: the default 275 personas of Study 2.

The personas are a pure function of (n, seed) (see analysis/sycophancy_personas.py); the CSV is
committed so that it can be reviewed, and tests/test_sycophancy_personas.py checks that
regenerating it gives the same file byte for byte.
Usage: python scripts/build_sycophancy_personas.py [--n 275] [--seed 2604] [--out PATH]
"""

import argparse
from pathlib import Path

from analysis.studies.sycophancy.personas import DEFAULT_N, DEFAULT_SEED, personas_csv_text
from analysis.studies.sycophancy.stimuli import PERSONAS_CSV


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=DEFAULT_N)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--out", type=Path, default=PERSONAS_CSV)
    a = ap.parse_args()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(personas_csv_text(a.n, a.seed), encoding="utf-8")
    print(f"wrote {a.out} ({a.n} personas, seed {a.seed})")


if __name__ == "__main__":
    main()
