"""Catalog schema scripts (package only so that the .sql files are installed)."""
