"""Typed fact extractors: dates, durations and per-category facts."""
