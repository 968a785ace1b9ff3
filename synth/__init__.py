"""The recorded LLM call layer and synthetic-data generators."""

# subtle: this folder is mapped to gristmill.synth; imported by its bare folder name (from the repo
# root) it would load a second copy of every module, so refuse that early.
if __name__ != "gristmill.synth":
    raise ImportError(f"import gristmill.synth, not {__name__!r}: the folder is part of gristmill")
