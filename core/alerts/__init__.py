"""Alerts: user rules evaluated against live metrics and signals, delivered off the feed thread."""
