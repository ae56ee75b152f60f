"""sdtmflow: flows."""
