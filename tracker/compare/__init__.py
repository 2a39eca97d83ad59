"""Comparing two documents: block alignment, word diffs and (semantic) material findings."""
