"""Curation past one machine: the same steps, run as Ray tasks over partitions of a version.

The single-process runner is the reference: every step here makes the same decisions (member
sets, removal records) as `gristmill.curation.runner` on the same input, and the store commits
them the same way, once, when the whole run has finished.
"""
