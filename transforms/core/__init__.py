"""What every stage shares: the findings table, the day of an ISO 8601 value, the atomic file write, distinct-value evaluation, variable metadata, transliteration."""
