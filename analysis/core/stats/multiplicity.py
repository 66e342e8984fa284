"""Multiplicity control."""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests


def adjust(pvalues, method: str = "holm") -> np.ndarray:
    """Adjusted p-values ('holm', 'fdr_bh', 'bonferroni'); NaNs stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out
