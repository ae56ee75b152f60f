"""Study metadata and CDISC standards as data (no code): the pipeline locates this folder by importing it."""
