"""Stage 3: the raw rows judged (Great Expectations suites and row checks); what fails is held back."""
