"""Readers of the real datasets' on-disk layouts (docs/reference.md §8.2)."""
