"""What every stage shares: the findings table, distinct-value evaluation, variable metadata, transliteration."""
