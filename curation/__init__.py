"""Curation steps that turn one dataset version into the next."""

# subtle: this folder is mapped to gristmill.curation; imported by its bare folder name (from the repo
# root) it would load a second copy of every module, so refuse that early.
if __name__ != "gristmill.curation":
    raise ImportError(f"import gristmill.curation, not {__name__!r}: the folder is part of gristmill")
