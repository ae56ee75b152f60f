"""conform: every check of the SDTM output, as one pure stage between mapping and writing.

The stage itself, expectations/conform.py's `conform_domains`, runs the Great Expectations SDTM
gate (expectations/sdtm.py), the MELD recomputation (transforms/scores/rs.py) and the FDA/CDISC
CORE rules of this folder (transforms/conform/rules.py and its check modules, the
rule table mappings/conformance_rules.csv) over the package exactly as it will be written, and
hands back one findings table; the writer only writes what it is given.
"""
