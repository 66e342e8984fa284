"""Generic statistics shared by every study (no study imports another study's statistics).

* ``correlation``: Pearson r, Spearman rho (Fisher-z CIs), OLS slope, difference of correlations
* ``groups``: median split, Welch's t, Mann-Whitney U, permutation test
* ``effects``: Cohen's d / Hedges' g (independent), g_av (paired), with noncentral-t CIs that agree with their tests
* ``mixed``: MixedLM with several optimisers, a boundary judged against the residual variance (cluster-robust
  OLS fallback), t with clusters - 1 df, and honest notes
* ``power``: the minimum detectable effect of a paired, two-sample, correlation or coefficient t test
* ``multiplicity``: Holm, Benjamini-Hochberg, Bonferroni
* ``reliability``: Cronbach's alpha (Feldt CI), McDonald's omega
"""
