"""sdtmflow: transforms."""
