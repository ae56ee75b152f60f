"""Great Expectations suites for the raw sheets (and later the SDTM domains), declared in code."""
