"""ASCII for SAS XPT v5: map the non-ASCII characters sites commonly type to ASCII equivalents.

Compatibility forms (full-width digits and brackets from Chinese input methods) fold through
Unicode NFKC; the few symbols NFKC leaves alone (≤, µ after folding, dashes, quotes) come from
`mappings/transliteration.csv`. What still is not ASCII afterwards cannot be transliterated
safely (Chinese words): the checks hold such rows back with a query for English text.
"""

from __future__ import annotations

import pandas as pd

_NON_ASCII = r"[^\x00-\x7f]"


def compute_ascii(values: pd.Series, table: pd.DataFrame) -> pd.Series:
    """Values with every transliterable character replaced; other characters left as they are.

    Only the values that hold a non-ASCII character are touched: NFKC leaves ASCII as it is and
    the table maps non-ASCII characters, so the rest (nearly every value) is already its own
    answer, and NFKC runs in Python per value (10 s per million).
    """
    text = values.astype("str")
    if any(str(c).isascii() for c in table["character"]):
        return _transliterate(text, table)  # a table mapping ASCII: every value may change
    touched = ~text.str.isascii().fillna(True).astype(bool)
    if not touched.any():
        return text
    out = text.copy()
    out[touched] = _transliterate(text[touched], table)
    return out


def _transliterate(text: pd.Series, table: pd.DataFrame) -> pd.Series:
    text = text.str.normalize("NFKC")
    for character, ascii_text in zip(table["character"], table["ascii"]):
        text = text.str.replace(character, ascii_text, regex=False)
    return text


def compute_has_non_ascii(values: pd.Series) -> pd.Series:
    """True where a value still holds a character XPT v5 cannot carry."""
    return values.astype("str").str.contains(_NON_ASCII, regex=True, na=False)
