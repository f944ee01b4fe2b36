"""Versioned SQL. Files apply in version (name) order, each once, recorded by version
(the file name without `.sql`) in `schema_migrations`.

- `common/`: a version whose SQL is the same on both databases (SQLite reads `BIGINT`
  as an integer column, exactly as it reads `INTEGER`);
- `postgresql/`, `sqlite/`: a version whose SQL differs, one file in each folder.

A version lives either in `common/` or in both database folders, never in both places.
"""
