"""Refine strategies, each a set of pure init/ask/tell functions (see ``base``)."""
