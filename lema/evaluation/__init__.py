"""Evaluation (method step 8): predict, metrics, the summary table, plots and report pages."""
