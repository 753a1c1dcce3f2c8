"""Write a REES46-shaped event log, to measure a large event log and a long-tail catalogue.

    python -m benchmarks.event_log 16m [--out benchmarks/work/events-16m.csv] [--seed 1]
    python -m benchmarks.run --real benchmarks/work/events-16m.csv --skip-lifetimes

The columns are REES46's ("eCommerce behavior data from multi category store"):
``event_time, event_type, product_id, category_id, category_code, brand, price, user_id,
user_session``, over October 2019. 90.5 % of the events are views, 6 % cart adds, 2 % cart
removals and 1.5 % purchases, as in the real log; about 12 events per user and 100,000
products bought at random, so most customers buy one product of a long-tail catalogue (the
real log's catalogue has a head of popular products, so it is somewhat denser). At 16M
events the file is 2.4 GB.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from benchmarks.run import DEFAULT_WORK, parse_size

__all__ = ["EVENT_SHARES", "write_event_log"]

EVENT_SHARES = {"view": 0.905, "cart": 0.06, "remove_from_cart": 0.02, "purchase": 0.015}
_CHUNK = 2_000_000
_START = np.datetime64("2019-10-01T00:00:00")
_SECONDS = 31 * 86_400


def write_event_log(path: str | Path, events: int, seed: int = 1) -> Path:
    """Write ``events`` events to ``path`` (CSV), the same file for the same seed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    users = rng.integers(500_000_000, 600_000_000, size=max(events // 12, 1_000))
    kinds = np.array(list(EVENT_SHARES))
    shares = np.array(list(EVENT_SHARES.values()))
    with path.open("wb") as handle:
        for start in range(0, events, _CHUNK):
            n = min(_CHUNK, events - start)
            times = _START + np.sort(rng.integers(0, _SECONDS, size=n)).astype("timedelta64[s]")
            user = users[rng.integers(0, len(users), size=n)]
            session = (user * 7 + rng.integers(0, 5, size=n)).astype(str)
            table = pa.table({
                "event_time": np.char.add(np.char.replace(
                    np.datetime_as_string(times, unit="s"), "T", " "), " UTC"),
                "event_type": rng.choice(kinds, size=n, p=shares),
                "product_id": rng.integers(1_000_000, 1_100_000, size=n),
                "category_id": rng.integers(2_053_013_552_000_000_000,
                                            2_053_013_552_999_999_999, size=n),
                "category_code": rng.choice(np.array([
                    "electronics.smartphone", "appliances.kitchen.washer", "",
                    "computers.notebook"]), size=n),
                "brand": rng.choice(np.array(["samsung", "apple", "xiaomi", "", "huawei"]),
                                    size=n),
                "price": np.round(rng.gamma(2.0, 150.0, size=n), 2),
                "user_id": user,
                "user_session": np.char.add(np.char.add("5d3f", session),
                                            "-0c6a-4c63-9b1b-2f8e4a3c1d7e"),
            })
            pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=start == 0))
    return path


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.event_log",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("events", help="how many events, e.g. 4m or 16m")
    parser.add_argument("--out", type=Path, help="CSV to write (default: "
                        "benchmarks/work/events-<events>.csv)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        events = parse_size(args.events)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    out = args.out or DEFAULT_WORK / f"events-{args.events.lower()}.csv"
    write_event_log(out, events, args.seed)
    print(f"Wrote {events:,} events to {out}")
    return out


if __name__ == "__main__":
    main()
