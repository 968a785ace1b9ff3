"""The DuckDB store: schema and migrations, versions and lineage, the writer lock, runs, ingest and export."""

# subtle: this folder is mapped to gristmill.store; imported by its bare folder name (from the repo
# root) it would load a second copy of every module, so refuse that early.
if __name__ != "gristmill.store":
    raise ImportError(f"import gristmill.store, not {__name__!r}: the folder is part of gristmill")
