"""Stage 4: the SDTM domains mapped from the rows validation let through, by the study's mapping spec."""
