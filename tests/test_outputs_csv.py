"""CSV tables are written with the same bytes whichever writer is used."""

import numpy as np
import pandas as pd
import pytest

from analytics.outputs import _arrow_writes_it_as_pandas, _write_csv


def frame(n: int = 120_000, **columns) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    base = pd.DataFrame({
        "customer_id": pd.array([f"{i:06d}" for i in rng.integers(0, 9999, n)], dtype="str"),
        "rank": rng.integers(1, 11, n),
        "product_id": pd.array([f"P{i:04d}" for i in rng.integers(0, 300, n)], dtype="str"),
        "score": rng.random(n) * 0.9 + 0.001,
        "source": pd.array(np.where(rng.random(n) < 0.5, "similar", "buy_again"), dtype="str"),
    })
    return base.assign(**columns)


def test_a_large_plain_table_goes_the_fast_way_with_the_same_bytes(tmp_path):
    table = frame()
    assert _arrow_writes_it_as_pandas(table.round({"score": 6}))
    _write_csv(table, tmp_path / "t.csv")
    expected = table.round({"score": 6}).to_csv(index=False).encode()
    assert (tmp_path / "t.csv").read_bytes() == expected


@pytest.mark.parametrize("extra", [
    {"score": 1.0},                                   # whole floats: pandas writes "1.0"
    {"score": 5e-05},                                 # tiny floats: pandas writes "5e-05"
    {"product_id": pd.array(["a,b"] * 120_000, dtype="str")},   # needs quotes
    {"day": pd.Timestamp("2024-01-02 03:04:05")},     # dates are formatted by pandas
    {"missing": np.nan},
])
def test_anything_else_falls_back_to_pandas_and_reads_back_the_same(tmp_path, extra):
    table = frame(**extra)
    _write_csv(table, tmp_path / "t.csv")
    floats = table.select_dtypes("float").columns
    expected = table.round(dict.fromkeys(floats, 6)).to_csv(index=False).encode()
    assert (tmp_path / "t.csv").read_bytes() == expected
