"""Stage 8: the run published atomically, its audit trail and what changed since the last run."""
