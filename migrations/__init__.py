"""Versioned SQL, one folder per database. Files apply in name order, each once."""
