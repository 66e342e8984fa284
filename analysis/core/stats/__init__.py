"""Generic statistics shared by every study (no study imports another study's statistics).

* ``correlation``: Pearson r, Spearman rho (Fisher-z CIs), OLS slope, difference of correlations
* ``groups``: median split, Welch's t, Mann-Whitney U, permutation test
* ``effects``: Cohen's d / Hedges' g (independent), g_av (paired), with CIs
* ``mixed``: MixedLM with several optimisers and honest notes
* ``multiplicity``: Holm, Benjamini-Hochberg, Bonferroni
* ``reliability``: Cronbach's alpha (Feldt CI), McDonald's omega
"""
