"""The flywheel: production logs ingested from cron exactly once, failures mined into training
data, drift watched, and the loop from logs to a gated candidate."""
