"""SFT and DPO training over a dataset version, and the model registry."""

# subtle: this folder is mapped to gristmill.train; imported by its bare folder name (from the repo
# root) it would load a second copy of every module, so refuse that early.
if __name__ != "gristmill.train":
    raise ImportError(f"import gristmill.train, not {__name__!r}: the folder is part of gristmill")
