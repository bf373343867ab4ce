"""Results a person can look at: the study's published numbers, model display names, side-by-side
samples, figures (matplotlib, Agg) and the self-contained HTML report, all read from the registry.

Nothing here imports torch or a trainer library; matplotlib is imported only by the figures.
"""
