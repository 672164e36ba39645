"""Readers of the real datasets' on-disk layouts (REFERENCE.md 8.2)."""
