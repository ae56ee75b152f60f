"""Stage 5: the scores derived from LB and the assessments (optional per study), and RS."""
