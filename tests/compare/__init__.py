"""Tests of the semantic comparison engine (tracker.compare)."""
