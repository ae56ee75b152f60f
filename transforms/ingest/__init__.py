"""Stage 1: every entry, sheet and row of the input folder read and accounted for."""
