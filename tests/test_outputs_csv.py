"""CSV tables are written with the same bytes whichever writer is used."""

import numpy as np
import pandas as pd
import pytest

from analytics import outputs
from analytics.outputs import _arrow_writes_it_as_pandas, _formatter, _write_csv


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


def pandas_bytes(table: pd.DataFrame) -> bytes:
    floats = table.select_dtypes("float").columns
    return table.round(dict.fromkeys(floats, 6)).to_csv(index=False).encode()


def test_a_large_plain_table_goes_the_fast_way_with_the_same_bytes(tmp_path):
    table = frame()
    assert _arrow_writes_it_as_pandas(table.round({"score": 6}))
    _write_csv(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == pandas_bytes(table)


N = 25_000
rng = np.random.default_rng(1)
SPECIAL_FLOATS = np.array([1.0, 0.0, -0.0, 5e-05, 1e-06, 0.0001, 99999999999999.0, 1e15,
                           1e16, 1.5e13, 123456789012.5, 2.5, -3.25, np.nan, np.inf, -np.inf])
TIMES = pd.to_datetime(rng.integers(1.7e9, 1.75e9, N), unit="s")


@pytest.mark.parametrize("extra", [
    {"score": rng.choice(SPECIAL_FLOATS, N)},          # whole, tiny, huge, signed zero, NaN
    {"score": np.round(rng.lognormal(3, 6, N), 6)},     # every size, 1e-6 to 1e12
    {"product_id": pd.array(rng.choice(["a,b", 'say "hi"', "two\nlines", "plain", None], N),
                            dtype="str")},              # quotes where needed, missing text
    {"day": TIMES},                                     # times of day
    {"day": TIMES.normalize()},                         # midnight only: written as dates
    {"day": pd.Series(TIMES).where(rng.random(N) < 0.9)},  # missing times
    {"day": TIMES + pd.to_timedelta(rng.integers(0, 999, N), unit="ms")},  # to pandas
    {"day": TIMES.tz_localize("UTC")},                  # to pandas
    {"flag": rng.random(N) < 0.5},                      # to pandas
], ids=["special_floats", "amounts", "text", "times", "dates", "missing_times", "fractions",
        "time_zone", "booleans"])
def test_any_table_is_written_as_pandas_writes_it(tmp_path, monkeypatch, extra):
    monkeypatch.setattr(outputs, "_CHUNK_ROWS", 7_000)  # several blocks, the last one short
    table = frame(N, **extra)
    _write_csv(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == pandas_bytes(table)


def test_large_non_whole_floats_are_not_left_to_arrows_writer(tmp_path):
    # Arrow prints 12345678901.5 as 1.23456789015e+10, Python in plain decimals
    table = frame(N, score=rng.random(N) * 1e11 + 0.5)
    assert not _arrow_writes_it_as_pandas(table.round({"score": 6}))
    _write_csv(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == pandas_bytes(table)


def test_columns_it_cannot_copy_are_left_to_pandas():
    table = frame(N, day=TIMES + pd.Timedelta(milliseconds=5), flag=True)
    assert _formatter(table["day"]) is None and _formatter(table["flag"]) is None
    assert _formatter(table["score"]) is not None and _formatter(table["source"]) is not None


def test_dates_or_times_are_decided_for_the_whole_column(tmp_path, monkeypatch):
    # the first block holds only midnights, the second has times: pandas writes times in both
    monkeypatch.setattr(outputs, "_CHUNK_ROWS", 10_000)
    days = TIMES.normalize().to_numpy().copy()
    days[15_000:] = TIMES.to_numpy()[15_000:]
    table = frame(N, day=days)
    _write_csv(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == pandas_bytes(table)
    assert b"00:00:00" in (tmp_path / "t.csv").read_bytes()[:2_000]


def test_a_text_column_in_chunks_is_written_as_pandas_writes_it(tmp_path, monkeypatch):
    # text read by pyarrow in blocks (a large CSV) is a chunked array: so are its lines
    import pyarrow as pa

    monkeypatch.setattr(outputs, "_CHUNK_ROWS", 7_000)
    text = rng.choice(["a,b", "plain", None, "x"], N)
    chunks = pa.chunked_array([pa.array(text[:9_000], pa.string()),
                               pa.array(text[9_000:], pa.string())])
    table = frame(N, product_id=pd.Series(pd.arrays.ArrowStringArray(chunks)))
    assert pa.array(table["product_id"].iloc[5_000:12_000], type=pa.string()).num_chunks == 2
    _write_csv(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == pandas_bytes(table)
