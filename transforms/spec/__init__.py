"""The study folder: read once into a Study, checked (check-study), written as a skeleton (new-study)."""
