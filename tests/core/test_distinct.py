"""transforms/core/distinct.py: codes, repeats and per-distinct derivations against plain pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transforms.core.distinct import (
    compute_combination_codes,
    compute_first_occurrences,
    compute_is_in,
    compute_is_repeated,
    compute_per_distinct,
    compute_value_codes,
    derive_group_extremes,
)
from expectations.validate import drop_rows


def random_frame(rows: int, cardinalities: dict, seed: int = 7) -> pd.DataFrame:
    """Text columns with the given numbers of distinct values, about 5% missing."""
    rng = np.random.default_rng(seed)
    frame = {}
    for name, count in cardinalities.items():
        values = pd.Series([f"{name}{i}" for i in rng.integers(0, count, rows)], dtype="str")
        frame[name] = values.where(rng.random(rows) > 0.05)
    return pd.DataFrame(frame)


def same_partition(a, b) -> bool:
    """Whether two labellings split the rows into the same groups."""
    return np.array_equal(pd.factorize(np.asarray(a))[0], pd.factorize(np.asarray(b))[0])


@pytest.mark.parametrize("cardinalities", [
    {"a": 3, "b": 4},  # few combinations: the mixed-radix code is used as it is
    {"a": 5000, "b": 5000, "c": 5000},  # beyond int64 and any table: renumbered on the way
])
def test_combination_codes_group_exactly_the_equal_rows(cardinalities):
    frame = random_frame(20000, cardinalities)
    codes = compute_combination_codes([frame[c] for c in frame.columns])
    groups = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup()
    assert same_partition(codes, groups)
    assert codes.min() >= 0 and codes.max() < 4 * len(frame) + 2**16


def test_value_codes_tell_apart_values_python_calls_equal():
    # pd.factorize puts 1, 1.0 and True in one group; a regex on their text would not
    values = pd.Series([1, 1.0, True, "1", None, 1, "1"], dtype="object")
    codes, count = compute_value_codes(values)
    assert codes[4] == 0  # missing
    assert len(set(codes[[0, 1, 2, 3]])) == 4
    assert codes[5] == codes[0] and codes[6] == codes[3]
    assert count > codes.max()


def test_booleans_take_codes_without_hashing_and_keep_their_two_values_apart():
    codes, count = compute_value_codes(pd.Series([True, False, True]))
    assert codes.tolist() == [2, 1, 2] and count == 3


def test_missing_values_are_equal_to_each_other_and_to_nothing_else():
    values = pd.Series(["x", None, "", None], dtype="str")
    codes, _ = compute_value_codes(values)
    assert codes[1] == codes[3] == 0
    assert len({codes[0], codes[1], codes[2]}) == 3


@pytest.mark.parametrize("cardinalities", [
    {"subject": 2000, "visit": 10, "test": 9},
    {"a": 300, "b": 300},
    {"a": 60000, "b": 60000},
])
def test_repeated_rows_are_those_pandas_calls_duplicated(cardinalities):
    frame = random_frame(50000, cardinalities)
    expected = frame.duplicated(keep=False).to_numpy()
    assert np.array_equal(compute_is_repeated([frame[c] for c in frame.columns]), expected)
    assert expected.any() and not expected.all()  # the data is a real test of both answers


def test_a_value_met_once_among_many_repeated_ones_is_not_repeated():
    values = pd.Series(["a"] * 50 + ["b"] + ["c"] * 49, dtype="str")
    repeated = compute_is_repeated([values])
    assert repeated.sum() == 99 and not repeated[50]
    pair = compute_is_repeated([values, pd.Series(["x"] * 99 + ["y"], dtype="str")])
    assert not pair[50] and not pair[99] and pair.sum() == 98


def test_first_occurrences_match_not_duplicated():
    codes = np.array([5, 2, 5, 0, 2, 9, 0, 5])
    expected = ~pd.Series(codes).duplicated().to_numpy()
    assert np.array_equal(compute_first_occurrences(codes), expected)
    assert compute_first_occurrences(np.array([], dtype="int64")).size == 0


def test_per_distinct_gives_what_the_whole_column_gives():
    frame = random_frame(30000, {"a": 50, "b": 7})
    joined = compute_per_distinct(lambda a, b: a.str.cat(b, sep="|"), frame["a"], frame["b"])
    assert isinstance(joined.dtype, pd.CategoricalDtype) and joined.index.equals(frame.index)
    pd.testing.assert_series_equal(
        joined.astype("str"), frame["a"].str.cat(frame["b"], sep="|"), check_names=False
    )
    def is_long(a):
        return (a.str.len() > 2).to_numpy(bool, na_value=False)

    assert np.array_equal(compute_per_distinct(is_long, frame["a"]), is_long(frame["a"]))


def test_per_distinct_frame_result_has_one_row_per_row_on_the_columns_index():
    frame = random_frame(30000, {"a": 50, "b": 7}).set_axis(np.arange(30000) * 3 + 11)
    def parse(a, b):
        return pd.DataFrame({"both": a.str.cat(b, sep="|"), "size": a.str.len()}, index=a.index)

    expected = parse(frame["a"], frame["b"])
    pd.testing.assert_frame_equal(compute_per_distinct(parse, frame["a"], frame["b"]), expected)


def test_is_in_matches_isin_and_missing_is_never_in():
    values = pd.Series(["01-001", None, "01-003", "01-002", "x"], dtype="str")
    accepted = ["01-001", "01-002"]
    assert compute_is_in(values, accepted).tolist() == [True, False, False, True, False]
    assert compute_is_in(values, []).tolist() == [False] * 5


def test_cache_serves_named_columns_only_and_gives_the_same_codes():
    frame = random_frame(1000, {"a": 30, "b": 4})
    cache: dict = {}
    first = compute_combination_codes([frame["a"], frame["b"]], cache)
    assert set(cache) == {("a", "str"), ("b", "str")}
    derived = frame["a"].str.upper().rename(None)  # not a column of the frame: never cached
    compute_combination_codes([derived], cache)
    assert set(cache) == {("a", "str"), ("b", "str")}
    assert np.array_equal(compute_combination_codes([frame["a"], frame["b"]], cache), first)


# past SLICED_DROP_LIMIT (1000) rows the boolean filter is used instead of slices
@pytest.mark.parametrize("dropped", [[], [0], [3, 4, 2999], list(range(0, 3000, 2))])
def test_drop_rows_equals_a_boolean_filter(dropped):
    frame = random_frame(3000, {"a": 30}).assign(n=np.arange(3000))
    mask = np.zeros(len(frame), dtype=bool)
    mask[dropped] = True
    pd.testing.assert_frame_equal(drop_rows(frame, mask), frame[~mask])


@pytest.mark.parametrize("dtype", [object, "str", "string[pyarrow]"])
def test_group_extremes_are_each_groups_first_and_last_text_in_code_point_order(dtype):
    frame = pd.DataFrame({
        "USUBJID": pd.Series(["B", "A", "B", "A", None, "B", "C"], dtype=dtype),
        "date": pd.Series(["2024-03", "2024-01-05", "2024-02-30", "é", "2023", None, None], dtype=dtype),
    })
    # worked by hand: A has "2024-01-05" < "é" (U+00E9 after every digit); B "2024-02-30" < "2024-03";
    # C has no value and no row; the row without a subject is no group's
    smallest = derive_group_extremes(frame, ["USUBJID"], "date", "min")
    largest = derive_group_extremes(frame, ["USUBJID"], "date", "max")
    assert smallest.astype(object).values.tolist() == [["A", "2024-01-05"], ["B", "2024-02-30"]]
    assert largest.astype(object).values.tolist() == [["A", "é"], ["B", "2024-03"]]


def test_group_extremes_agree_with_pandas_groupby_on_many_groups():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "USUBJID": rng.choice([f"S{i:03d}" for i in range(200)], 5000),
        "VISITNUM": rng.choice([1.0, 2.0, 3.5], 5000),
        "date": rng.choice([f"2024-{m:02d}-{d:02d}" for m in (1, 2, 12) for d in (1, 9, 28)], 5000),
    })
    for how in ("min", "max"):
        expected = frame.groupby(["USUBJID", "VISITNUM"], as_index=False)["date"].agg(how)
        pd.testing.assert_frame_equal(derive_group_extremes(frame, ["USUBJID", "VISITNUM"], "date", how),
                                      expected, check_dtype=False)
