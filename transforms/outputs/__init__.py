"""Stage 7: the package written (XPT, Parquet, Dataset-JSON, define.xml, reports, queries)."""
