"""Tasks: (being built)."""
