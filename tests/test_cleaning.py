"""Cleaning: every dropped line is counted under the first reason it meets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.cleaning import DROP_REASONS, CleaningReport, clean_orders
from analytics.clv import clv_summary
from analytics.errors import DataError
from analytics.loading import load_orders
from analytics.pipeline import load_and_clean

DATA = Path(__file__).parent / "data"
T = pd.Timestamp


def frame(rows: list[tuple]) -> pd.DataFrame:
    columns = ["customer_id", "order_date", "order_id", "quantity", "unit_price", "amount"]
    orders = pd.DataFrame(rows, columns=columns)
    orders["customer_id"] = orders["customer_id"].astype("str")
    orders["order_id"] = orders["order_id"].astype("str")
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    return orders.astype({"quantity": "float64", "unit_price": "float64", "amount": "float64"})


GOOD = ("1", T("2024-01-01"), "100", 2.0, 5.0, 10.0)
ORDERS = frame(
    [
        GOOD,
        ("2", T("2024-01-02"), "101", 1.0, 3.0, 3.0),
        (None, T("2024-01-03"), "C102", -1.0, 3.0, -3.0),  # missing customer (and a return)
        ("  ", T("2024-01-03"), "103", 1.0, 3.0, 3.0),  # blank customer
        ("3", pd.NaT, "C104", 1.0, 3.0, 3.0),  # no date (and a cancellation)
        ("3", T("2024-01-04"), "c105", 1.0, 3.0, 3.0),  # cancellation, lower case
        ("3", T("2024-01-04"), "106", -2.0, 3.0, -6.0),  # return
        ("3", T("2024-01-04"), "107", 1.0, 3.0, -3.0),  # negative amount
        ("4", T("2024-01-05"), "108", 1.0, 0.0, 0.0),  # zero price
        ("4", T("2024-01-05"), "109", 1.0, 2.0, np.nan),  # no amount
        ("4", T("2024-01-05"), "110", 0.0, 2.0, 0.0),  # zero amount
        GOOD,  # duplicate of the first line
        ("1", T("2024-01-01"), "100", 2.0, 5.0, 10.0),  # and again
    ]
)


def test_counts_per_reason_first_reason_wins() -> None:
    kept, report = clean_orders(ORDERS)
    assert report.dropped == {
        "missing_customer": 2,
        "unparseable_date": 1,
        "not_a_purchase": 0,
        "cancellation_or_return": 3,
        "non_positive_price_or_amount": 3,
        "duplicate": 2,
    }
    assert (report.rows_in, report.rows_kept, report.rows_dropped) == (13, 2, 11)
    assert report.balanced
    pd.testing.assert_frame_equal(kept, ORDERS.iloc[[0, 1]].reset_index(drop=True))


def test_every_reason_is_reported_even_when_zero() -> None:
    _, report = clean_orders(frame([GOOD]))
    assert list(report.dropped) == list(DROP_REASONS)
    assert set(report.dropped.values()) == {0}


def test_clean_frame_is_kept_whole() -> None:
    once, _ = clean_orders(ORDERS)
    twice, report = clean_orders(once)
    pd.testing.assert_frame_equal(once, twice)
    assert report.rows_kept == report.rows_in == 2


def test_input_is_not_modified() -> None:
    before = ORDERS.copy()
    clean_orders(ORDERS)
    pd.testing.assert_frame_equal(ORDERS, before)


def test_duplicate_needs_every_canonical_column_equal() -> None:
    other_product = frame([GOOD, GOOD]).assign(product_id=["A", "B"])
    kept, report = clean_orders(other_product)
    assert len(kept) == 2 and report.dropped["duplicate"] == 0


def test_minimal_frame_without_optional_columns() -> None:
    # every line twice: copies, even with nothing to tell a copy from a purchase
    orders = frame([GOOD, GOOD]).drop(columns=["order_id", "quantity", "unit_price"])
    kept, report = clean_orders(orders)
    assert len(kept) == 1 and report.dropped["duplicate"] == 1 and report.repeats_kept == 0


def bare_log(repeats: int, *, extra: dict | None = None, hour: int = 0) -> pd.DataFrame:
    """Ten customers' orders as CDNOW has them (customer, day, amount), and ``repeats``
    more lines equal to the first ones."""
    rows = [{"customer_id": str(i), "order_date": T("2024-01-01") + pd.Timedelta(days=i,
             hours=hour), "amount": 10.0 + i, **(extra or {})} for i in range(10)]
    return pd.DataFrame(rows + rows[:repeats])


def test_a_repeat_with_nothing_to_tell_it_from_a_purchase_is_a_purchase() -> None:
    # CDNOW: customer, day, CDs and dollars; a customer who bought the same again that day
    kept, report = clean_orders(bare_log(1))
    assert report.dropped["duplicate"] == 0 and report.repeats_kept == 1 and len(kept) == 11
    assert kept.groupby("customer_id")["amount"].sum()["0"] == 20.0


@pytest.mark.parametrize("told_apart", [
    {"extra": {"order_id": "A1"}},  # the same order's line twice
    {"extra": {"product_id": "P1"}},  # the same product twice on a line of its own
    {"extra": {"product_name": "Mug"}},
    {"hour": 10},  # the same second of the same day
])
def test_a_repeat_of_a_line_with_an_order_product_or_time_is_a_copy(told_apart) -> None:
    kept, report = clean_orders(bare_log(1, **told_apart))
    assert report.dropped["duplicate"] == 1 and report.repeats_kept == 0 and len(kept) == 10


def test_a_bare_log_that_holds_its_lines_twice_loses_the_copies() -> None:
    kept, report = clean_orders(bare_log(10))  # the export appended to itself
    assert report.dropped["duplicate"] == 10 and report.repeats_kept == 0 and len(kept) == 10
    _, report = clean_orders(bare_log(3))  # 3 of 13 lines: a fifth or more, copies
    assert report.dropped["duplicate"] == 3 and report.repeats_kept == 0
    _, report = clean_orders(bare_log(2))  # 2 of 12: purchases
    assert report.dropped["duplicate"] == 0 and report.repeats_kept == 2


def test_cdnow_repeats_are_counted_as_fader_and_hardie_count_them() -> None:
    # The CDNOW sample, cleaned, gives every customer's published calibration summary (x and
    # zbar, Fader, Hardie & Lee 2005): its 21 same-day repeats are purchases (dropped as
    # copies, 4 customers' mean order value would be wrong). 8 customers whose one purchase
    # cost nothing are not customers here.
    lines, report, loaded = load_and_clean(
        DATA / "CDNOW_sample.txt.gz", mapping={"customer_id": "2", "order_date": "3",
                                               "amount": "5"})
    assert report.repeats_kept == 21 and report.dropped["duplicate"] == 0
    assert report.dropped["non_positive_price_or_amount"] == 8
    assert any("21 lines repeat an earlier line" in note and "order id" in note
               for note in loaded.notes)
    published = pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv",
                            index_col="ID")
    summary = clv_summary(lines, "1997-09-30", time_unit_days=7)
    summary.index = summary.index.astype(int)
    assert len(summary) == len(published) - 8
    published = published.loc[summary.index]
    np.testing.assert_array_equal(summary["frequency"], published["x"])
    np.testing.assert_allclose(summary["monetary_value"], published["zbar"], atol=0.0051)


def test_nothing_left_is_an_error_with_counts_and_what_to_check() -> None:
    orders = frame([(None, T("2024-01-01"), "1", 1.0, 1.0, 1.0), ("1", pd.NaT, "2", 1, 1, 1)])
    with pytest.raises(DataError) as caught:
        clean_orders(orders)
    message = str(caught.value)
    assert "No order lines left" in message and "2 lines in" in message
    assert "missing_customer: 1" in message and "unparseable_date: 1" in message
    assert "--map customer_id=<header>" in message and "--date-format" in message


def test_missing_required_column() -> None:
    with pytest.raises(DataError, match="no amount column"):
        clean_orders(frame([GOOD]).drop(columns=["amount"]))


def test_report_add_keeps_the_identity() -> None:
    _, report = clean_orders(ORDERS)
    report.add("after_as_of", 1)
    assert report.rows_kept == 1 and report.dropped["after_as_of"] == 1 and report.balanced
    assert report.to_dict() == {
        "rows_in": 13,
        "rows_kept": 1,
        "rows_dropped": 12,
        "dropped": {
            "missing_customer": 2,
            "unparseable_date": 1,
            "not_a_purchase": 0,
            "cancellation_or_return": 3,
            "non_positive_price_or_amount": 3,
            "duplicate": 2,
            "after_as_of": 1,
        },
    }
    with pytest.raises(ValueError):
        report.add("after_as_of", 5)


def test_unbalanced_report_is_detected() -> None:
    assert not CleaningReport(rows_in=3, rows_kept=1).balanced


def test_uci_ii_slice_loads_and_cleans() -> None:
    loaded = load_orders(DATA / "online_retail_ii_slice.csv")
    kept, report = clean_orders(loaded.orders)
    assert report.to_dict() == {
        "rows_in": 299,
        "rows_kept": 276,
        "rows_dropped": 23,
        "dropped": {
            "missing_customer": 12,
            "unparseable_date": 0,
            "not_a_purchase": 0,
            "cancellation_or_return": 5,
            "non_positive_price_or_amount": 2,
            "duplicate": 4,
        },
    }
    assert len(kept) == 276 and kept["customer_id"].notna().all()
    assert (kept["amount"] > 0).all() and not kept["order_id"].str.startswith("C").any()


def test_duplicates_must_match_in_text_columns_too():
    base = {"customer_id": "A", "order_date": pd.Timestamp("2024-01-01 10:00"),
            "amount": 5.0, "order_id": "1", "product_id": "P1"}
    rows = [base, {**base, "product_id": "P2"},  # same numbers, another product: kept
            {**base}, {**base, "customer_id": "B"},  # an exact repeat: dropped
            {**base, "amount": 6.0}]
    kept, report = clean_orders(pd.DataFrame(rows))
    assert report.dropped["duplicate"] == 1
    assert kept[["customer_id", "product_id", "amount"]].values.tolist() == [
        ["A", "P1", 5.0], ["A", "P2", 5.0], ["B", "P1", 5.0], ["A", "P1", 6.0]]


def test_repeats_are_found_whatever_zero_or_missing_value_their_numbers_hold():
    # a discount of -0.0 equals 0.0 and a missing value equals another (whatever NaN
    # holds it), as pandas compares them: hashing the numbers must not keep them apart
    other_nan = np.frombuffer(np.uint64(0x7FF8000000000123).tobytes(), dtype=np.float64)[0]
    base = {"customer_id": "A", "order_date": pd.Timestamp("2024-01-01 10:00"),
            "amount": 5.0, "order_id": "1", "product_id": "P1", "discount": 0.0,
            "quantity": np.nan}
    rows = [base, {**base, "discount": -0.0, "quantity": other_nan}, {**base, "discount": 0.5}]
    kept, report = clean_orders(pd.DataFrame(rows))
    assert report.dropped["duplicate"] == 1
    assert kept["discount"].tolist() == [0.0, 0.5]


def test_lines_of_cancelled_refunded_or_failed_orders_are_cancellations() -> None:
    statuses = ["paid", "Cancelled", "REFUNDED", "partially_refunded", "wc-failed", "voided",
                "已取消", "storniert", None, "delivered", "Cancelled by customer", "Annullato",
                "Devolvido", "Geannuleerd", "Anulowane", "İptal", "キャンセル",
                # a status's owner before the word (Magento-like, PrestaShop), OpenCart's
                # payment outcomes, BigCommerce's abandoned checkout
                "order_refunded", "Payment error", "Payment Failed", "Denied", "Expired",
                "Reversed", "Incomplete",
                # a cancellation reversed: the order stands; so do orders on their way
                "Canceled Reversal", "processing", "order_shipped", "payment_review"]
    orders = frame([("1", T("2024-01-01"), str(100 + i), 1.0, 2.0, 2.0)
                    for i in range(len(statuses))]).assign(status=statuses)
    clean, report = clean_orders(orders)
    # a partial refund, a missing status and the rest are orders that happened
    assert clean["status"].fillna("(none)").tolist() == [
        "paid", "partially_refunded", "(none)", "delivered", "Canceled Reversal", "processing",
        "order_shipped", "payment_review"]
    assert report.dropped["cancellation_or_return"] == 20 and report.balanced


def test_orders_never_paid_are_not_purchases_but_orders_awaiting_payment_are(
        tmp_path: Path) -> None:
    # Magento's and WooCommerce's pending payment (left at the payment step, cancelled by
    # the shop within hours), Woo's slug for it and a checkout's draft: never paid. On hold,
    # pending and awaiting payment wait for a bank transfer or cash: usually paid.
    unpaid = ["pending_payment", "Pending payment", "wc-pending", "wc-checkout-draft", "Draft"]
    paid = ["pending", "on-hold", "Awaiting Payment", "processing", "wc-completed"]
    path = tmp_path / "orders.csv"
    statuses = unpaid + paid
    pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(statuses))],
                  "created_at": [f"2024-01-{i + 1:02d}" for i in range(len(statuses))],
                  "grand_total": 10.0, "status": statuses}).to_csv(path, index=False)
    loaded = load_orders(path)
    kept, report = clean_orders(loaded.orders)
    assert kept["status"].tolist() == paid
    assert report.dropped["not_a_purchase"] == len(unpaid) and report.balanced
    [note] = [n for n in loaded.notes if "never paid" in n]
    assert "5 lines of orders never paid" in note and "dropped as not_a_purchase" in note


@pytest.mark.parametrize(("statuses", "dropped"), [
    # Magento: "closed" is an order refunded in full (its "holded" says whose statuses)
    (["complete", "closed", "holded", "processing", "closed"], 2),
    (["complete", "closed", "canceled", "pending_payment"], 1),
    # elsewhere "closed" may be archived (Shopify) or settled (an invoice): kept
    (["open", "closed", "closed", "paid"], 0),
])
def test_closed_is_a_refund_only_among_magentos_statuses(tmp_path: Path, statuses: list[str],
                                                         dropped: int) -> None:
    path = tmp_path / "orders.csv"
    pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(statuses))],
                  "created_at": [f"2024-01-{i + 1:02d}" for i in range(len(statuses))],
                  "grand_total": 10.0, "status": statuses}).to_csv(path, index=False)
    loaded = load_orders(path)
    kept, report = clean_orders(loaded.orders)
    assert "closed" not in kept["status"].tolist() or dropped == 0
    assert report.dropped["cancellation_or_return"] == dropped + statuses.count("canceled")
    noted = [n for n in loaded.notes if "'closed' is an order refunded in full" in n]
    assert len(noted) == (1 if dropped else 0)


def test_lines_that_differ_only_in_a_column_not_read_are_not_copies(tmp_path: Path) -> None:
    # Olist's order items: two units of a product are two lines told apart by order_item_id
    text = ("order_id,order_item_id,customer_unique_id,order_purchase_timestamp,product_id,"
            "price,seller_id\n"
            "o1,1,c1,2024-01-01 10:00,p1,5.0,s1\n"
            "o1,2,c1,2024-01-01 10:00,p1,5.0,s1\n"
            "o1,2,c1,2024-01-01 10:00,p1,5.0,s1\n"  # a true copy of the line above
            "o2,1,c2,2024-01-02 11:00,p1,5.0,s1\n")
    path = tmp_path / "olist.csv"
    path.write_text(text, encoding="utf-8")
    lines, report, loaded = load_and_clean(path, mapping={"amount": "price"})
    assert report.dropped["duplicate"] == 1 and len(lines) == 3
    assert lines.groupby("order_id")["amount"].sum().to_dict() == {"o1": 10.0, "o2": 5.0}
    assert list(lines.columns) == list(loaded.orders.columns)  # no helper column left


def test_only_uci_style_c_numbers_are_cancellations() -> None:
    rows = [("1", T("2024-01-01"), order_id, 1.0, 2.0, 2.0)
            for order_id in ("CA-2016-152156", "US-2015-108966", "CA-2017-1", "489434",
                             "C489449", "c489450", "CB12")]
    clean, report = clean_orders(frame(rows))
    # Superstore's ids start with a country code; UCI marks a cancellation C + invoice digits
    assert clean["order_id"].tolist() == ["CA-2016-152156", "US-2015-108966", "CA-2017-1",
                                          "489434", "CB12"]
    assert report.dropped["cancellation_or_return"] == 2
    # a shop that numbers every order C1001, C1002, ... has no cancellations for it
    own = frame([("1", T("2024-01-01"), f"C{1000 + i}", 1.0, 2.0, 2.0) for i in range(5)])
    assert len(clean_orders(own)[0]) == 5


def test_an_event_logs_browsing_events_are_not_purchases() -> None:
    events = ["purchase", "view", "add_to_cart", "Remove From Cart", "begin_checkout", None,
              "transaction", "pageview", "authorization", "capture"]
    orders = frame([("1", T("2024-01-01"), str(100 + i), 1.0, 2.0, 2.0)
                    for i in range(len(events))]).assign(status=events)
    clean, report = clean_orders(orders)
    assert clean["status"].fillna("(none)").tolist() == ["purchase", "(none)", "transaction",
                                                         "capture"]
    assert report.dropped["not_a_purchase"] == 6 and report.balanced
    assert list(report.dropped)[:3] == ["missing_customer", "unparseable_date", "not_a_purchase"]
