"""Tests of rrg.results: the study's tables, figures, samples and the HTML report."""
