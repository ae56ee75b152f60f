"""Stage 2: text cleaned, values standardised (ISO 8601, SI units, coded terms), visits named."""
