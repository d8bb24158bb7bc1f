"""Metrics and statistics for classifiers, reports and reader studies."""
