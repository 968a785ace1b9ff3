"""Eval suites, metrics, judges, gates and reports."""

# subtle: this folder is mapped to gristmill.evals; imported by its bare folder name (from the repo
# root) it would load a second copy of every module, so refuse that early.
if __name__ != "gristmill.evals":
    raise ImportError(f"import gristmill.evals, not {__name__!r}: the folder is part of gristmill")
