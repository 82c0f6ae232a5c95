"""Evaluation on labelled test sets: cases, the run and its metrics, the threshold trade-off, reports."""
