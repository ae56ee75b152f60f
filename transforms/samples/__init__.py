"""Exports generated from a study folder, to try a spec before a site sends data."""
