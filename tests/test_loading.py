"""Loading: reading files, mapping headers, converting types, and clear errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.cleaning import clean_orders
from analytics.errors import DataError
from analytics.loading import detect_mapping, load_orders, map_orders, read_table
from analytics.rfm import order_table
from analytics.schema import CANONICAL_COLUMNS

ORDER = {field: n for n, field in enumerate(CANONICAL_COLUMNS)}

DATA = Path(__file__).parent / "data"
UCI_I = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
         "CustomerID", "Country"]  # fmt: skip
UCI_II = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
          "Customer ID", "Country"]  # fmt: skip
UCI_MAPPING = {
    "order_id": 0, "product_id": 1, "product_name": 2, "quantity": 3, "order_date": 4,
    "unit_price": 5, "customer_id": 6, "country": 7,
}  # fmt: skip


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding, newline="")
    return path


def error_of(path: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as caught:
        load_orders(path, **kwargs)
    return str(caught.value)


def excel(tmp_path: Path, sheets: dict[str, pd.DataFrame], name: str = "orders.xlsx") -> Path:
    path = tmp_path / name
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for sheet, frame in sheets.items():
            frame.to_excel(writer, sheet_name=sheet, index=False)
    return path


MINIMAL = pd.DataFrame(
    {"customer": ["1", "2"], "date": ["2024-01-05", "2024-02-06"], "amount": [10.5, 20.0]}
)


# --- header mapping --------------------------------------------------------------------


@pytest.mark.parametrize("headers", [UCI_I, UCI_II], ids=["online_retail_I", "online_retail_II"])
def test_detect_mapping_uci_headers(headers: list[str]) -> None:
    expected = {canonical: headers[i] for canonical, i in UCI_MAPPING.items()}
    assert detect_mapping(headers) == expected


def test_detect_mapping_minimal_file() -> None:
    assert detect_mapping(["customer", "date", "amount"]) == {
        "customer_id": "customer",
        "order_date": "date",
        "amount": "amount",
    }


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["user_id", "timestamp", "revenue"], ["customer_id", "order_date", "amount"]),
        (["Client ID", "Created At", "Order Total"], ["customer_id", "order_date", "amount"]),
        (["client_id", "created_at", "total", "qty", "sku", "voucher"],
         ["customer_id", "order_date", "amount", "product_id", "quantity", "coupon_code"]),
        (["CUSTOMER_ID", "order_date", "price", "quantity", "promo_code", "channel"],
         ["customer_id", "order_date", "quantity", "unit_price", "channel", "coupon_code"]),
        # WooCommerce, Stripe, point-of-sale exports
        (["Order Number", "Date Created", "Customer User ID", "Order Total Amount"],
         ["customer_id", "order_date", "amount", "order_id"]),
        (["Receipt number", "Created (UTC)", "Buyer", "Amount Paid"],
         ["customer_id", "order_date", "amount", "order_id"]),
    ],
)  # fmt: skip
def test_detect_mapping_shop_synonyms(headers: list[str], expected: list[str]) -> None:
    assert list(detect_mapping(headers)) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["Rechnungsnr", "Kundennr", "Datum", "Artikel", "Menge", "Einzelpreis", "Betrag",
          "Vorname", "Nachname", "Telefon", "Straße", "Bestellstatus"],
         {"order_id": "Rechnungsnr", "customer_id": "Kundennr", "order_date": "Datum",
          "product_id": "Artikel", "quantity": "Menge", "unit_price": "Einzelpreis",
          "amount": "Betrag", "status": "Bestellstatus"}),
        (["Numéro de commande", "Date de commande", "Client", "Référence", "Désignation",
          "Quantité", "Prix unitaire", "Montant TTC", "Nom", "Prénom", "Adresse", "Pays"],
         {"order_id": "Numéro de commande", "order_date": "Date de commande",
          "customer_id": "Client", "product_id": "Référence", "product_name": "Désignation",
          "quantity": "Quantité", "unit_price": "Prix unitaire", "amount": "Montant TTC",
          "country": "Pays"}),
        (["Pedido", "Fecha", "ID Cliente", "Producto", "Cantidad", "Precio unitario",
          "Importe", "Nombre", "Teléfono", "Dirección", "Estado"],
         {"order_id": "Pedido", "order_date": "Fecha", "customer_id": "ID Cliente",
          "product_name": "Producto", "quantity": "Cantidad", "unit_price": "Precio unitario",
          "amount": "Importe", "status": "Estado"}),
        (["订单编号", "买家ID", "下单时间", "商品ID", "商品名称", "类目", "数量", "单价",
          "实付金额", "收货人姓名", "手机号", "收货地址", "订单状态"],
         {"order_id": "订单编号", "customer_id": "买家ID", "order_date": "下单时间",
          "product_id": "商品ID", "product_name": "商品名称", "category": "类目",
          "quantity": "数量", "unit_price": "单价", "amount": "实付金额", "status": "订单状态"}),
        # Olist: customer_id there is one per order, customer_unique_id the person
        (["order_id", "customer_id", "customer_unique_id", "order_purchase_timestamp",
          "product_id", "product_category_name", "price", "order_status"],
         {"order_id": "order_id", "customer_id": "customer_unique_id",
          "order_date": "order_purchase_timestamp", "product_id": "product_id",
          "category": "product_category_name", "unit_price": "price",
          "status": "order_status"}),
        (["Numero ordine", "Data ordine", "Codice cliente", "Prodotto", "Quantità", "Prezzo",
          "Totale", "Stato", "Nome", "Indirizzo"],
         {"order_id": "Numero ordine", "order_date": "Data ordine",
          "customer_id": "Codice cliente", "product_name": "Prodotto", "quantity": "Quantità",
          "unit_price": "Prezzo", "amount": "Totale", "status": "Stato"}),
        (["Pedido", "Data do pedido", "Código cliente", "Produto", "Quantidade",
          "Preço unitário", "Valor total", "Situação", "Telefone"],
         {"order_id": "Pedido", "order_date": "Data do pedido", "customer_id": "Código cliente",
          "product_name": "Produto", "quantity": "Quantidade", "unit_price": "Preço unitário",
          "amount": "Valor total", "status": "Situação"}),
        (["Bestelnummer", "Besteldatum", "Klantnummer", "Omschrijving", "Aantal", "Prijs",
          "Bedrag", "Bestelstatus", "Adres"],
         {"order_id": "Bestelnummer", "order_date": "Besteldatum", "customer_id": "Klantnummer",
          "product_name": "Omschrijving", "quantity": "Aantal", "unit_price": "Prijs",
          "amount": "Bedrag", "status": "Bestelstatus"}),
        (["注文番号", "注文日時", "顧客ID", "商品名", "数量", "単価", "合計金額", "ステータス"],
         {"order_id": "注文番号", "order_date": "注文日時", "customer_id": "顧客ID",
          "product_name": "商品名", "quantity": "数量", "unit_price": "単価",
          "amount": "合計金額", "status": "ステータス"}),
    ],
    ids=["german", "french", "spanish", "chinese", "olist", "italian", "portuguese", "dutch",
         "japanese"],
)  # fmt: skip
def test_detect_mapping_other_languages_and_no_personal_data(
    headers: list[str], expected: dict[str, str]
) -> None:
    assert detect_mapping(headers) == dict(sorted(expected.items(), key=lambda kv: ORDER[kv[0]]))


def test_detect_mapping_overrides_win_and_ignore_case() -> None:
    mapping = detect_mapping(
        ["Kunde", "Datum", "amount", "customer"],
        {"customer_id": "Kunde", "order_date": "datum"},
    )
    assert mapping == {"customer_id": "Kunde", "order_date": "Datum", "amount": "amount"}


def test_detect_mapping_never_picks_personal_data() -> None:
    mapping = detect_mapping(["customer", "date", "amount", "Name", "phone", "Street Address"])
    assert set(mapping.values()) == {"customer", "date", "amount"}


def test_override_of_unknown_field_lists_valid_fields() -> None:
    with pytest.raises(DataError, match=r"Unknown field 'kunde'.*customer_id, order_date"):
        detect_mapping(["Kunde"], {"kunde": "Kunde"})


def test_override_of_missing_header_lists_headers(tmp_path: Path) -> None:
    path = write(tmp_path, "orders.csv", "Kunde,Datum,Betrag\n1,2024-01-01,5\n")
    message = error_of(path, mapping={"customer_id": "Client"})
    assert "orders.csv" in message
    assert "customer_id='Client'" in message
    assert "Kunde, Datum, Betrag" in message


def test_load_with_explicit_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "orders.csv", "Kunde,Datum,Betrag\n7,2024-01-01,5\n")
    result = load_orders(
        path, mapping={"customer_id": "Kunde", "order_date": "Datum", "amount": "Betrag"}
    )
    assert result.orders.to_dict("list") == {
        "customer_id": ["7"],
        "order_date": [pd.Timestamp("2024-01-01")],
        "amount": [5.0],
    }


# --- the result ------------------------------------------------------------------------


def test_load_uci_ii_slice_unmodified() -> None:
    result = load_orders(DATA / "online_retail_ii_slice.csv")
    orders = result.orders
    assert (result.source, result.rows_in, len(orders)) == ("online_retail_ii_slice.csv", 299, 299)
    assert list(orders.columns) == [
        "customer_id", "order_date", "amount", "order_id", "product_id", "product_name",
        "quantity", "unit_price", "country",
    ]  # fmt: skip
    assert result.ignored_columns == []
    assert "amount derived as quantity × unit_price" in result.notes
    assert orders["customer_id"].isna().sum() == 12
    assert orders["order_date"].dtype.kind == "M"
    assert orders["order_id"].str.startswith("C").sum() == 6
    first = orders.iloc[0]
    assert (first["customer_id"], first["product_id"]) == ("16954", "22149")
    assert first["amount"] == pytest.approx(6 * 2.1)


def test_amount_column_is_kept_not_derived(tmp_path: Path) -> None:
    path = write(tmp_path, "o.csv", "customer,date,qty,price,revenue\n1,2024-01-01,2,3,5\n")
    result = load_orders(path)
    assert result.orders["amount"].tolist() == [5.0]
    assert not any("derived" in note for note in result.notes)


SHOPIFY = """Name,Email,Created at,Lineitem quantity,Lineitem price,Lineitem sku,Total
#1001,a@example.com,2024-01-05 10:00:00 +0100,2,3.00,A1,16.50
#1001,a@example.com,2024-01-05 10:00:00 +0100,1,10.00,B2,
#1002,b@example.com,2024-01-06 09:00:00 +0100,1,4.00,A1,4.00
#1003,a@example.com,2024-02-01 12:00:00 +0100,3,1.00,C3,9.00
#1003,a@example.com,2024-02-01 12:00:00 +0100,2,2.00,A1,
#1003,a@example.com,2024-02-01 12:00:00 +0100,1,5.00,B2,
"""


@pytest.mark.parametrize("order_id", ["Name", "Order"], ids=["no_order_id", "order_id"])
def test_an_order_total_on_each_orders_first_line_gives_way_to_line_values(
    tmp_path: Path, order_id: str
) -> None:
    # Shopify: the order total on an order's first line only. Its "Name" (the order number)
    # is not read (it looks like a person's name), so orders are a customer's lines at a time.
    path = write(tmp_path, "orders_export.csv", SHOPIFY.replace("Name,", f"{order_id},", 1))
    result = load_orders(path)
    assert result.orders["amount"].tolist() == [6.0, 10.0, 4.0, 3.0, 4.0, 5.0]  # no line lost
    assert "amount" not in result.mapping and "Total" in result.ignored_columns
    (note,) = [n for n in result.notes if "'Total' (amount)" in n]
    assert "one line per order" in note and "--map amount='Total'" in note
    # asked for by name, the column is read as it is, blanks and all
    kept = load_orders(path, mapping={"amount": "Total"})
    assert kept.orders["amount"].isna().tolist() == [False, True, False, False, True, True]
    assert kept.mapping["amount"] == "Total"


def test_an_orders_status_on_its_first_line_covers_its_other_lines(tmp_path: Path) -> None:
    text = SHOPIFY.replace("Email,", "Email,Financial Status,", 1)
    statuses = iter(["refunded", "", "paid", "paid", "", ""])
    lines = text.splitlines()
    text = "\n".join([lines[0], *(line.replace(".com,", f".com,{next(statuses)},", 1)
                                 for line in lines[1:])]) + "\n"
    result = load_orders(write(tmp_path, "orders_export.csv", text))
    assert result.mapping["status"] == "Financial Status"
    assert result.orders["status"].tolist() == ["refunded", "refunded", "paid", "paid", "paid",
                                                "paid"]
    (note,) = [n for n in result.notes if "(status)" in n]
    assert "2 lines of orders that were cancelled, refunded or failed (refunded (2))" in note


def test_a_status_per_line_stays_the_lines(tmp_path: Path) -> None:
    text = ("order_id,customer,date,amount,item_status\n"
            "1,a,2024-01-01,5,refunded\n1,a,2024-01-01,7,shipped\n2,b,2024-01-02,3,\n")
    result = load_orders(write(tmp_path, "o.csv", text))
    assert result.orders["status"].fillna("").tolist() == ["refunded", "shipped", ""]
    # lines without an order id are not one order: none takes another's status
    loose = text.replace("\n1,a,2024-01-01,7,shipped", "\n,c,2024-01-03,7,refunded")
    loose = loose.replace("\n2,b,", "\n,b,")
    result = load_orders(write(tmp_path, "p.csv", loose))
    assert result.orders["status"].fillna("").tolist() == ["refunded", "refunded", ""]


def test_a_few_blank_amounts_are_not_taken_for_order_totals(tmp_path: Path) -> None:
    # line amounts with two missing: #1001's second line, and #1003's third, whose other
    # two lines have theirs (so not an order total on one line)
    text = (SHOPIFY.replace("2,3.00,A1,16.50", "2,3.00,A1,6.00")
            .replace("3,1.00,C3,9.00", "3,1.00,C3,3.00")
            .replace("2,2.00,A1,\n", "2,2.00,A1,4.00\n"))
    result = load_orders(write(tmp_path, "o.csv", text))
    assert result.orders["amount"].isna().sum() == 2
    assert result.mapping["amount"] == "Total"
    assert not any("one line per order" in note for note in result.notes)


def test_personal_data_never_reaches_the_frame(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "o.csv",
        "customer,date,amount,First Name,Email,Phone,Shipping Address\n"
        "1,2024-01-01,5,Ann,ann@example.com,+44 1,1 Road\n",
    )
    result = load_orders(path)
    assert list(result.orders.columns) == ["customer_id", "order_date", "amount"]
    assert result.ignored_columns == ["First Name", "Email", "Phone", "Shipping Address"]
    assert "ann@example.com" not in result.orders.to_string()


def test_email_as_the_only_customer_key_is_pseudonymised(tmp_path: Path) -> None:
    path = write(
        tmp_path, "o.csv", "Email,date,amount\nAnn@Example.com,2024-01-01,5\nann@example.com,"
        "2024-01-02,6\n,2024-01-03,7\n",
    )  # fmt: skip
    result = load_orders(path)
    ids = result.orders["customer_id"]
    assert ids[0] == ids[1] and "@" not in ids[0] and len(ids[0]) == 16
    assert pd.isna(ids[2])
    assert "customer_id is a pseudonymous hash of 'Email'" in result.notes
    assert not [n for n in result.notes if "is read as the" in n]  # not a loose reading


def test_customer_ids_that_are_email_addresses_are_pseudonymised(tmp_path: Path) -> None:
    # a shop that keys customers by e-mail, under a plain customer header
    text = ("customer,date,amount\nann@example.com,2024-01-01,5\nANN@example.com,2024-01-02,6\n"
            "bob@example.org,2024-01-03,7\n")
    result = load_orders(write(tmp_path, "o.csv", text))
    ids = result.orders["customer_id"]
    assert ids[0] == ids[1] != ids[2] and not ids.str.contains("@").any()
    assert any("the ids are e-mail addresses; customer_id is a pseudonymous hash" in note
               for note in result.notes)
    plain = load_orders(write(tmp_path, "p.csv", text.replace("@", "-at-")))
    assert plain.orders["customer_id"][0] == "ann-at-example.com"
    # whom each hash stands for, as the file first writes it; nothing for plain ids
    assert result.contacts.to_dict() == {ids[0]: "ann@example.com", ids[2]: "bob@example.org"}
    assert plain.contacts is None


# --- ids -------------------------------------------------------------------------------


def test_ids_keep_leading_zeros_and_drop_float_artefacts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "o.csv",
        "customer,date,amount,sku\n12345,2024-01-01,1,007\n12345.0,2024-01-01,1,7\n"
        "012345,2024-01-01,1,7.0\n  ,2024-01-01,1, A1 \n",
    )
    result = load_orders(path)
    assert result.orders["customer_id"].tolist()[:3] == ["12345", "12345", "012345"]
    assert pd.isna(result.orders["customer_id"][3])
    assert result.orders["product_id"].tolist() == ["007", "7", "7", "A1"]
    assert any("leading zeros" in note and "'012345'" in note for note in result.notes)


def test_float_typed_parquet_ids(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pd.DataFrame(
        {
            "Customer ID": [12345.0, np.nan, 17850.0],
            "InvoiceDate": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "Invoice": [489434, 489435, 489436],
            "Quantity": [1, 2, 3],
            "Price": [1.5, 2.0, 2.5],
        }
    ).to_parquet(path)
    orders = load_orders(path).orders
    assert orders["customer_id"].tolist()[::2] == ["12345", "17850"]
    assert pd.isna(orders["customer_id"][1])
    assert orders["order_id"].tolist() == ["489434", "489435", "489436"]
    assert orders["amount"].tolist() == [1.5, 4.0, 7.5]


# --- dates -----------------------------------------------------------------------------


def dates_of(tmp_path: Path, values: list[str], **kwargs: object) -> tuple[list, list[str]]:
    lines = "".join(f"{i},{v},1\n" for i, v in enumerate(values))
    result = load_orders(write(tmp_path, "d.csv", "customer,date,amount\n" + lines), **kwargs)
    return result.orders["order_date"].tolist(), result.notes


@pytest.mark.parametrize("values", [
    ["05-Jan-2024 10:00", "06-Feb-2024 23:30"],
    ['"Jan 5, 2024 10:00 AM"', '"Feb 6, 2024 11:30 PM"'],
    ['"Fri, 05 Jan 2024 10:00:00 GMT"', '"Tue, 06 Feb 2024 23:30:00 GMT"'],
    ["2024-01-05 10:00:00 UTC", "2024-02-06 23:30:00 UTC"],
    ["2024年1月5日 10:00", "2024年2月6日 23:30"],
    ["2024年1月5日 10时00分", "2024年2月6日 23时30分"],
    ["45296.416666667", "45328.979166667"],  # Excel day numbers, as a workbook saved as CSV
    ["Jan 5 2024 10:00AM", "Feb 6 2024 11:30PM"],  # SQL Server's default text of a datetime
], ids=["dd-mon-yyyy", "us_month_name", "rfc_2822", "utc_suffix", "chinese", "chinese_time",
        "excel_days", "am_pm_without_space"])
def test_dates_with_month_names_in_chinese_or_as_excel_numbers(
    tmp_path: Path, values: list[str]
) -> None:
    dates, _ = dates_of(tmp_path, values)
    assert dates == [pd.Timestamp("2024-01-05 10:00"), pd.Timestamp("2024-02-06 23:30")]


@pytest.mark.parametrize("times", [["08:15", "15:40", "9:05 AM"], ["815", "1540", "905"]],
                         ids=["clock", "hhmm"])
def test_a_time_column_beside_a_date_gives_the_time_of_day(tmp_path: Path,
                                                          times: list[str]) -> None:
    # two coffees on one day, no order id: two orders, not one
    text = ("customer,date,time,amount\n"
            f"c1,2024-01-05,{times[0]},4.5\nc1,2024-01-05,{times[1]},4.5\n"
            f"c2,2024-01-06,{times[2]},3\n")
    loaded = load_orders(write(tmp_path, "pos.csv", text))
    assert loaded.orders["order_date"].tolist() == [
        pd.Timestamp("2024-01-05 08:15"), pd.Timestamp("2024-01-05 15:40"),
        pd.Timestamp("2024-01-06 09:05")]
    assert "pos.csv: the times of day in column 'time' are added to the dates of 'date'" \
        in loaded.notes
    lines, _ = clean_orders(loaded.orders, loaded.line_keys)
    assert len(order_table(lines)) == 3
    # dates that have their times already are left as they are
    kept = load_orders(write(tmp_path, "t.csv", "customer,date,time,amount\n"
                             "c1,2024-01-05 10:00,08:15,4.5\n"))
    assert kept.orders["order_date"].tolist() == [pd.Timestamp("2024-01-05 10:00")]
    assert not [n for n in kept.notes if "times of day" in n]


def test_us_dates_with_am_pm_and_no_space(tmp_path: Path) -> None:
    dates, notes = dates_of(tmp_path, ["1/25/2024 10:00AM", "2/6/2024 11:30PM"])
    assert dates == [pd.Timestamp("2024-01-25 10:00"), pd.Timestamp("2024-02-06 23:30")]
    assert any("month-first (US)" in note for note in notes)


def test_iso_dates(tmp_path: Path) -> None:
    dates, notes = dates_of(tmp_path, ["2024-12-31 14:05:00", "2024-01-02T08:00:00", "2024-03-04"])
    assert dates == [pd.Timestamp("2024-12-31 14:05"), pd.Timestamp("2024-01-02 08:00"),
                     pd.Timestamp("2024-03-04")]  # fmt: skip
    assert notes == []


def test_iso_dates_with_one_value_of_another_kind_are_all_read_as_before(
    tmp_path: Path,
) -> None:
    # ISO dates without a zone are read in one pass; one value that pass refuses (a zone,
    # a day that does not exist) sends the whole column the general way, notes and all
    dates, notes = dates_of(tmp_path, ["2024-01-05 10:00:00", "2024-01-05T10:00:00.5",
                                       "2024-01-06", "", "2024-01-07 10:00:00+01:00"])
    assert dates[:3] == [pd.Timestamp("2024-01-05 10:00"), pd.Timestamp("2024-01-05 10:00:00.5"),
                         pd.Timestamp("2024-01-06")]
    assert pd.isna(dates[3]) and dates[4] == pd.Timestamp("2024-01-07 10:00")
    assert any("UTC offset" in note for note in notes)
    dates, notes = dates_of(tmp_path, ["2024-01-05 10:00:00"] * 30 + ["2024-02-30 10:00:00"])
    assert dates[0] == pd.Timestamp("2024-01-05 10:00") and pd.isna(dates[-1])
    assert any("1 values could not be read" in note and "2024-02-30" in note for note in notes)


@pytest.mark.parametrize("values", [
    ["2024-01-01T00:30:00.250+08:00", "2023-12-31T23:30:00+08:00"],
    ["2024-01-01 00:30:00 +0800", "2023-12-31 23:30:00 +0800"],  # Shopify's
    ['"Mon, 01 Jan 2024 00:30:00 +0800"', '"Sun, 31 Dec 2023 23:30:00 +0800"'],  # RFC 2822
    ["01/01/2024 00:30:00-05:00", "12/31/2023 23:30:00-05:00"],
], ids=["iso_with_fraction", "shopify", "rfc_2822", "month_first"])
def test_times_with_a_utc_offset_keep_the_shops_own_day(tmp_path: Path,
                                                         values: list[str]) -> None:
    # a New Year's order placed at half past midnight in Shanghai (or New York) is January's,
    # and the one an hour earlier December's, as the shop's own reports count them: in UTC
    # they would swap months (and years), and every cohort near midnight would shift a day
    dates, notes = dates_of(tmp_path, values)
    assert [d.replace(microsecond=0) for d in dates] == [
        pd.Timestamp("2024-01-01 00:30"), pd.Timestamp("2023-12-31 23:30")]
    assert any("UTC offset kept at the local time" in note for note in notes)


def test_times_in_utc_read_as_written_without_a_note(tmp_path: Path) -> None:
    dates, notes = dates_of(tmp_path, ["2024-01-01T10:00:00Z", "2024-01-02T10:00:00+00:00"])
    assert dates == [pd.Timestamp("2024-01-01 10:00"), pd.Timestamp("2024-01-02 10:00")]
    assert not any("UTC offset" in note for note in notes)


def test_a_date_format_with_an_offset_reads_the_local_time(tmp_path: Path) -> None:
    dates, _ = dates_of(tmp_path, ["05.01.2024 23:30 +0100", "06.01.2024 00:15 +0100"],
                        date_format="%d.%m.%Y %H:%M %z")
    assert dates == [pd.Timestamp("2024-01-05 23:30"), pd.Timestamp("2024-01-06 00:15")]


def test_a_parquet_column_with_a_time_zone_keeps_its_local_time(tmp_path: Path) -> None:
    stamps = pd.to_datetime(["2024-01-01 00:30", "2024-02-01 09:00"]).tz_localize("Asia/Shanghai")
    path = tmp_path / "orders.parquet"
    pd.DataFrame({"customer": ["a", "b"], "date": stamps, "amount": [1.0, 2.0]}).to_parquet(path)
    dates = load_orders(path).orders["order_date"].tolist()
    assert dates == [pd.Timestamp("2024-01-01 00:30"), pd.Timestamp("2024-02-01 09:00")]


def test_european_day_first_dates(tmp_path: Path) -> None:
    dates, notes = dates_of(tmp_path, ["31.12.2024 14:05", "01.02.2024 09:00", "13.03.2024 10:00"])
    assert dates[:2] == [pd.Timestamp("2024-12-31 14:05"), pd.Timestamp("2024-02-01 09:00")]
    assert any("day-first DD.MM.YYYY hh:mm" in note for note in notes)


def test_us_month_first_dates_as_in_uci_online_retail(tmp_path: Path) -> None:
    dates, notes = dates_of(tmp_path, ["12/1/2010 8:26", "12/13/2010 9:41", "1/4/2011 10:00"])
    assert dates == [pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2010-12-13 09:41"),
                     pd.Timestamp("2011-01-04 10:00")]  # fmt: skip
    assert any("month-first (US)" in note for note in notes)


def test_ambiguous_dates_are_day_first_and_say_so(tmp_path: Path) -> None:
    dates, notes = dates_of(tmp_path, ["01/02/2024", "03/04/2024"])
    assert dates == [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-04-03")]
    assert any("day-first" in note and "fits both" in note for note in notes)


def test_date_format_overrides_inference(tmp_path: Path) -> None:
    dates, _ = dates_of(tmp_path, ["01/02/2024", "03/04/2024"], date_format="%m/%d/%Y")
    assert dates == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-03-04")]


def test_dates_with_and_without_time_in_one_column(tmp_path: Path) -> None:
    dates, _ = dates_of(tmp_path, ["31/12/2024 14:05", "30/12/2024"])
    assert dates == [pd.Timestamp("2024-12-31 14:05"), pd.Timestamp("2024-12-30")]


def test_a_few_bad_dates_become_nat_with_a_note(tmp_path: Path) -> None:
    dates, notes = dates_of(tmp_path, ["2024-01-01", "2024-01-02", "2024-01-03", "soon"])
    assert pd.isna(dates[3]) and dates[0] == pd.Timestamp("2024-01-01")
    assert any("1 values could not be read" in note and "'soon'" in note for note in notes)


def test_unix_timestamps(tmp_path: Path) -> None:
    dates, _ = dates_of(tmp_path, ["1700000000", "1700003600"])
    assert dates == [pd.Timestamp("2023-11-14 22:13:20"), pd.Timestamp("2023-11-14 23:13:20")]


# --- numbers ---------------------------------------------------------------------------


def amounts_of(tmp_path: Path, text: str) -> tuple[list[float], list[str]]:
    result = load_orders(write(tmp_path, "n.csv", text))
    return result.orders["amount"].tolist(), result.notes


def test_decimal_commas_and_semicolons(tmp_path: Path) -> None:
    text = "Kunde;Datum;Betrag\n1;2024-01-01;1.234,56\n2;2024-01-02;12,5\n3;2024-01-03;7\n"
    result = load_orders(
        write(tmp_path, "eu.csv", text),
        mapping={"customer_id": "Kunde", "order_date": "Datum", "amount": "Betrag"},
    )
    assert result.orders["amount"].tolist() == [1234.56, 12.5, 7.0]
    assert any("decimal commas" in note for note in result.notes)


def test_currency_symbols_thousands_and_parentheses(tmp_path: Path) -> None:
    amounts, _ = amounts_of(
        tmp_path,
        'customer,date,amount\n1,2024-01-01,"£1,234.50"\n2,2024-01-01,€ 3.10\n'
        "3,2024-01-01,(12.00)\n4,2024-01-01,USD 7\n",
    )
    assert amounts == [1234.5, 3.1, -12.0, 7.0]


@pytest.mark.parametrize(("values", "expected"), [
    (["R$ 1.234,56", "R$ 12,50", "R$ 3,00"], [1234.56, 12.5, 3.0]),  # Brazil (Olist)
    (["12,50 zł", "zł 3,10", "kr 7,00"], [12.5, 3.1, 7.0]),           # Poland, Scandinavia
    (["Rs. 1,234.00", "US$12.50", "S/ 3.10"], [1234.0, 12.5, 3.1]),   # India, US, Peru
    (["₺12.50", "RM 3.10", "12.50-"], [12.5, 3.1, -12.5]),            # a trailing minus (ERP)
], ids=["real", "zloty_krona", "rupee_dollar_sol", "lira_ringgit_minus"])
def test_currencies_of_any_shape_around_the_number(
    tmp_path: Path, values: list[str], expected: list[float]
) -> None:
    rows = "".join(f'{n},2024-01-01,"{v}"\n' for n, v in enumerate(values))
    amounts, _ = amounts_of(tmp_path, "customer,date,amount\n" + rows)
    assert amounts == expected


def test_inconsistent_decimal_marks_are_not_guessed(tmp_path: Path) -> None:
    amounts, notes = amounts_of(
        tmp_path,
        'customer,date,amount\n1,2024-01-01,1.50\n2,2024-01-01,"2,50"\n3,2024-01-01,3.25\n',
    )
    assert amounts[0] == 1.5 and np.isnan(amounts[1]) and amounts[2] == 3.25
    assert any("'2,50'" in note for note in notes)


# --- file formats ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sep"), [("o.txt", "|"), ("o.tsv", "\t"), ("o.csv", ";"), ("o.txt", ",")]
)
def test_delimiters_are_sniffed(tmp_path: Path, name: str, sep: str) -> None:
    text = sep.join(["user_id", "timestamp", "revenue"]) + "\n" + sep.join(["9", "2024-01-01", "5"])
    orders = load_orders(write(tmp_path, name, text + "\n")).orders
    assert orders.to_dict("list") == {
        "customer_id": ["9"],
        "order_date": [pd.Timestamp("2024-01-01")],
        "amount": [5.0],
    }


def test_columns_lined_up_with_spaces(tmp_path: Path) -> None:
    # as in the CDNOW sample of BG/NBD fame: ids with zeros, dates as YYYYMMDD
    text = ("customer_id  date      cds  dollars\n"
            "00001        19970101  1    11.77\n"
            "00002        19970112  2    29.33\n")
    orders = load_orders(write(tmp_path, "cdnow.txt", text),
                         mapping={"amount": "dollars", "quantity": "cds"}).orders
    assert orders["customer_id"].tolist() == ["00001", "00002"]
    assert orders["order_date"].tolist() == [pd.Timestamp("1997-01-01"),
                                             pd.Timestamp("1997-01-12")]
    assert orders["amount"].tolist() == [11.77, 29.33]


@pytest.mark.parametrize("sep", [" ", "  ", ","])
def test_a_file_without_a_header_line_is_read_by_its_values(tmp_path: Path, sep: str) -> None:
    # CDNOW_master.txt, of BG/NBD fame: customer, YYYYMMDD date, CDs, dollars; no header
    rows = [("00001", "19970101", "1", "11.77"), ("00002", "19970112", "1", "12.00"),
            ("00001", "19970305", "2", "20.76"), ("00003", "19970101", "2", "29.33")]
    text = "".join(sep.join(row) + "\n" for row in rows)
    result = load_orders(write(tmp_path, "cdnow.txt", text))
    orders = result.orders
    assert result.rows_in == 4  # the first line is an order too
    assert orders["customer_id"].tolist() == ["00001", "00002", "00001", "00003"]
    assert orders["order_date"].tolist()[:2] == [pd.Timestamp("1997-01-01"),
                                                 pd.Timestamp("1997-01-12")]
    assert orders["quantity"].tolist() == [1, 1, 2, 2]
    assert orders["amount"].tolist() == [11.77, 12.0, 20.76, 29.33]
    assert any("no header line; column 1 as the customer_id, column 2 as the order_date, "
               "column 4 as the amount, column 3 as the quantity" in n for n in result.notes)


def _lined_up(customer: str, date: str, product: str, amount: str) -> str:
    return f"{customer:<12}{date:<13}{product:<12}{amount:>7}\n"


@pytest.mark.parametrize("empty_at", [2, 70])  # among the first lines, or far below them
def test_columns_lined_up_with_spaces_and_empty_cells_are_read_by_position(
        tmp_path: Path, empty_at: int) -> None:
    # a legacy system's report: splitting on spaces would move the next cell into an
    # empty one (the date into a guest's customer column)
    rows = [_lined_up(f"C{i:03d}", f"2024-01-{i % 28 + 1:02d}", f"P{i % 5}",
                      f"{10 + i % 7}.50") for i in range(80)]
    rows[empty_at] = _lined_up("", "2024-01-05", "P1", "11.50")  # a guest order
    rows[empty_at + 3] = _lined_up("C999", "2024-01-06", "", "12.50")  # no product
    path = tmp_path / "report.txt"
    path.write_text(_lined_up("customer_id", "order_date", "product_id", "amount")
                    + "".join(rows), encoding="utf-8")
    result = load_orders(path)
    orders = result.orders
    assert len(orders) == 80
    guest, other = orders.iloc[empty_at], orders.iloc[empty_at + 3]
    assert pd.isna(guest["customer_id"]) and guest["order_date"] == pd.Timestamp("2024-01-05")
    assert guest["amount"] == 11.5 and guest["product_id"] == "P1"
    assert other["customer_id"] == "C999" and pd.isna(other["product_id"])
    assert other["amount"] == 12.5
    assert orders["amount"].notna().all() and orders["order_date"].notna().all()
    assert any("lined up with spaces" in note for note in result.notes)


def test_a_first_line_with_a_date_in_full_is_an_order_not_names(tmp_path: Path) -> None:
    # ids with letters look like names, but no column is named 2024-01-05 10:00
    text = ("A17,2024-01-05 10:00,11.77\nB22,2024-01-09 16:30,12.50\n"
            "A17,2024-02-11 09:15,20.00\nC05,2024-02-12 11:00,7.25\n")
    result = load_orders(write(tmp_path, "orders.csv", text))
    assert result.rows_in == 4
    assert result.orders["customer_id"].tolist() == ["A17", "B22", "A17", "C05"]
    assert result.orders["order_date"].iloc[0] == pd.Timestamp("2024-01-05 10:00")
    assert result.orders["amount"].sum() == pytest.approx(51.52)


@pytest.mark.parametrize("sheet", [None, "all"])
def test_a_sheet_without_a_header_row_is_read_by_its_values(tmp_path: Path, sheet) -> None:
    rows = [["00001", "19970101", 1, 11.77], ["00002", "19970112", 1, 12.0],
            ["00001", "19970305", 2, 20.76], ["00003", "19970101", 2, 29.33],
            ["00004", "19970101", 1, 9.99]]
    path = tmp_path / "cdnow.xlsx"
    pd.DataFrame(rows).to_excel(path, header=False, index=False)
    result = load_orders(path, sheet=sheet and "all")
    assert result.rows_in == 5  # the first row is an order too
    assert result.orders["customer_id"].tolist() == ["00001", "00002", "00001", "00003",
                                                     "00004"]
    assert result.orders["amount"].tolist() == [11.77, 12.0, 20.76, 29.33, 9.99]
    assert result.mapping == {"customer_id": "1", "order_date": "2", "amount": "4",
                              "quantity": "3"}


def test_cdnow_as_lifetimes_ships_it_loads_with_its_header_line_or_without(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the real CDNOW master file (tests/data): its dollar_value is the amount; without its
    # header line the columns are told apart by their values, to the same orders
    with_header = load_orders(DATA / "CDNOW_master.txt.gz")
    assert with_header.mapping["amount"] == "dollar_value"
    lines = gzip.decompress((DATA / "CDNOW_master.txt.gz").read_bytes()).splitlines(True)
    (tmp_path / "cdnow.txt").write_bytes(b"".join(lines[1:]))
    reads, read_csv = [], pd.read_csv

    def counted(*args, **kwargs):  # reads that give a table (pyarrow refuses "\s+" at once)
        table = read_csv(*args, **kwargs)
        reads.append(args)
        return table

    monkeypatch.setattr(pd, "read_csv", counted)
    without = load_orders(tmp_path / "cdnow.txt")
    assert len(reads) == 1  # its first line says it has no header: the file is read once
    assert without.mapping == {"customer_id": "1", "order_date": "2", "amount": "4",
                               "quantity": "3"}
    columns = ["customer_id", "order_date", "amount"]
    pd.testing.assert_frame_equal(without.orders[columns], with_header.orders[columns])


def test_a_file_without_a_header_line_whose_columns_look_alike_says_how_to_name_them(
        tmp_path: Path) -> None:
    # two columns of whole numbers with as many distinct values: which is the customer?
    text = "1,19970101,1,11.77\n2,19970112,2,12.50\n"
    message = error_of(write(tmp_path, "cdnow.txt", text))
    assert "cdnow.txt: the file has no header line" in message
    assert "Add a first line that names the columns" in message
    assert "--map customer_id=1 --map order_date=2 --map amount=4" in message
    # ... and, told by number, it loads
    orders = load_orders(tmp_path / "cdnow.txt",
                         mapping={"customer_id": "1", "quantity": "3"}).orders
    assert orders["customer_id"].tolist() == ["1", "2"]
    assert orders["quantity"].tolist() == [1, 2] and orders["amount"].tolist() == [11.77, 12.5]


def test_gzipped_csv(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("customer,date,amount\n042,2024-01-01,5\n")
    assert load_orders(path).orders["customer_id"].tolist() == ["042"]


def test_windows_encoded_csv(tmp_path: Path) -> None:
    text = "customer,date,amount,Description\n1,2024-01-01,5,café €\n"
    orders = load_orders(write(tmp_path, "o.csv", text, encoding="cp1252")).orders
    assert orders["product_name"].tolist() == ["café €"]


@pytest.mark.parametrize("name", ["export.txt", "export.txt.gz"])
def test_excels_unicode_text_export_is_read(tmp_path: Path, name: str) -> None:
    # Excel's "Save as Unicode Text": UTF-16 with a byte order mark, tab-separated
    text = ("Customer ID\tOrder Date\tAmount\tDescription\n"
            "012\t05/01/2024\t5,50\tcafé €\n007\t06/02/2024\t20,00\t茶\n")
    data = text.encode("utf-16")
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    orders = load_orders(path).orders
    assert orders["customer_id"].tolist() == ["012", "007"]
    assert orders["product_name"].tolist() == ["café €", "茶"]
    assert orders["amount"].tolist() == [5.5, 20.0]
    assert orders["order_date"].tolist() == [pd.Timestamp("2024-01-05"),
                                             pd.Timestamp("2024-02-06")]


def test_a_typeset_minus_is_a_minus(tmp_path: Path) -> None:
    text = "client;date;montant\nc1;2024-01-05;1\u00a0234,56\nc2;2024-01-06;\u221212,50\n"
    orders = load_orders(write(tmp_path, "o.csv", text)).orders
    assert orders["amount"].tolist() == [1234.56, -12.5]


@pytest.mark.parametrize(("header", "price"), [
    ("amount_cents", None), ("Total (pence)", None), ("AmountInCents", None),
    (None, "unit_price_cents"),
])
def test_money_in_cents_is_read_in_the_currency(tmp_path: Path, header: str | None,
                                                price: str | None) -> None:
    if header:
        text = f"customer_id,created_at,{header}\nc1,2024-01-05,1050\nc2,2024-01-06,99\n"
    else:
        text = f"customer_id,created_at,qty,{price}\nc1,2024-01-05,2,525\nc2,2024-01-06,1,99\n"
    loaded = load_orders(write(tmp_path, "o.csv", text))
    assert loaded.orders["amount"].tolist() == [10.5, 0.99]
    assert any("counts cents: its values are divided by 100" in n for n in loaded.notes)


def test_a_percentage_is_not_cents(tmp_path: Path) -> None:
    text = "customer,date,amount,discount_percents\nc1,2024-01-05,10,5\n"
    loaded = load_orders(write(tmp_path, "o.csv", text), {"discount": "discount_percents"})
    assert loaded.orders["discount"].tolist() == [5.0]


def test_excel_single_sheet(tmp_path: Path) -> None:
    frame = MINIMAL.assign(customer=["012", "12"])
    orders = load_orders(excel(tmp_path, {"Orders": frame})).orders
    assert orders["customer_id"].tolist() == ["012", "12"]
    assert orders["amount"].tolist() == [10.5, 20.0]
    assert orders["order_date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-02-06")]


def test_excel_native_dates_and_numeric_ids(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "Customer ID": [12345, None],
            "InvoiceDate": [pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2010-12-02")],
            "Price": [2.55, 1.0],
            "Quantity": [6, 2],
        }
    )
    orders = load_orders(excel(tmp_path, {"Year 2010-2011": frame})).orders
    assert orders["customer_id"].tolist()[0] == "12345"
    assert orders["order_date"].tolist() == [pd.Timestamp("2010-12-01 08:26"),
                                             pd.Timestamp("2010-12-02")]  # fmt: skip


def test_excel_sheet_choice_and_all(tmp_path: Path) -> None:
    later = MINIMAL.assign(customer=["3", "4"])
    path = excel(tmp_path, {"Year 2009-2010": MINIMAL, "Year 2010-2011": later})
    chosen = load_orders(path, sheet="Year 2010-2011").orders
    assert chosen["customer_id"].tolist() == ["3", "4"]
    stacked = load_orders(path, sheet="all")
    assert stacked.orders["customer_id"].tolist() == ["1", "2", "3", "4"]
    assert stacked.rows_in == 4


# --- one clear error per bad input -----------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    message = error_of(tmp_path / "nope.csv")
    assert "File not found" in message and "nope.csv" in message


def test_unsupported_extension_lists_supported(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "orders.json", "{}"))
    assert "orders.json" in message and ".json" in message
    assert ".csv" in message and ".parquet" in message and ".xlsx" in message


def test_no_customer_or_date_column(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "o.csv", "who,when,amount\n1,2024-01-01,5\n"))
    assert "o.csv" in message and "customer_id or the order_date" in message
    assert "who, when, amount" in message
    assert "--map customer_id=<header> --map order_date=<header>" in message


def test_no_amount_and_no_unit_price(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "o.csv", "customer,date,paid\n1,2024-01-01,5\n"))
    assert "o.csv" in message and "no amount column" in message
    assert "customer, date, paid" in message
    assert "--map amount=<header>" in message and "--map quantity=<header>" in message


def test_a_price_without_quantities_is_the_amount_of_one_item(tmp_path: Path) -> None:
    # Olist's order items and an event log's purchases: a line per unit sold
    result = load_orders(write(tmp_path, "o.csv", "customer,date,price\n1,2024-01-01,5\n"
                                                  "2,2024-01-02,7.5\n"))
    assert result.orders["amount"].tolist() == [5.0, 7.5]
    assert "o.csv: no amount or quantity column: each line counts as one item, and its amount " \
           "is its price (column 'price'); if the file has quantities, map them with " \
           "--map quantity=<header>" in result.notes
    counted = load_orders(write(tmp_path, "q.csv", "customer,date,price,n\n1,2024-01-01,5,3\n"),
                          mapping={"quantity": "n"})
    assert counted.orders["amount"].tolist() == [15.0]


def test_mostly_unparseable_dates(tmp_path: Path) -> None:
    text = "customer,date,amount\n1,someday,5\n2,later,5\n3,never,5\n4,tomorrow,5\n5,2024-01-01,1\n"
    message = error_of(write(tmp_path, "o.csv", text))
    assert "o.csv" in message and "'date' (order_date)" in message and "80%" in message
    assert "'someday', 'later', 'never'" in message and "'tomorrow'" not in message
    assert "--date-format" in message and "--map order_date=<header>" in message


def test_non_numeric_amount(tmp_path: Path) -> None:
    text = "customer,date,Price,Quantity\n1,2024-01-01,cheap,1\n2,2024-01-01,dear,2\n"
    message = error_of(write(tmp_path, "o.csv", text))
    assert "o.csv" in message and "'Price' (unit_price)" in message
    assert "'cheap', 'dear'" in message and "--map unit_price=<header>" in message


@pytest.mark.parametrize("text", ["", "customer,date,amount\n"], ids=["no_bytes", "header_only"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    message = error_of(write(tmp_path, "o.csv", text))
    assert "o.csv" in message and "no rows" in message


def test_excel_sheets_of_orders_are_found_without_a_sheet(tmp_path: Path) -> None:
    later = MINIMAL.assign(customer=["3", "4"])  # a sheet per year, as UCI Online Retail II
    years = load_orders(excel(tmp_path, {"Year 2009-2010": MINIMAL, "Year 2010-2011": later}))
    assert years.orders["customer_id"].tolist() == ["1", "2", "3", "4"] and years.rows_in == 4
    assert "orders.xlsx: sheets 'Year 2009-2010', 'Year 2010-2011' stacked (the same " \
           "columns); --sheet NAME reads one" in years.notes
    summary = pd.DataFrame({"metric": ["revenue"], "value": [30.5]})
    book = load_orders(excel(tmp_path, {"Summary": summary, "Orders": MINIMAL}, "report.xlsx"))
    assert book.orders["customer_id"].tolist() == ["1", "2"]
    assert "report.xlsx: sheet 'Orders' read, the only one of 2 with customer and date " \
           "columns; --sheet NAME reads another" in book.notes


def test_excel_with_several_sheets_of_other_columns_needs_a_sheet(tmp_path: Path) -> None:
    other = MINIMAL.rename(columns={"amount": "total"})
    message = error_of(excel(tmp_path, {"2009": MINIMAL, "2010": other}))
    assert "orders.xlsx has 2 sheets: 2009, 2010; 2009, 2010 have customer and date " \
           "columns, but not the same columns" in message
    assert "--sheet NAME" in message and "--sheet all" in message
    unknown = MINIMAL.rename(columns={"customer": "who", "date": "when"})
    message = error_of(excel(tmp_path, {"a": unknown, "b": unknown}, "who.xlsx"))
    assert "none has columns recognisable as the customer and the date" in message


def test_unknown_sheet(tmp_path: Path) -> None:
    message = error_of(excel(tmp_path, {"2009": MINIMAL}), sheet="2011")
    assert "orders.xlsx" in message and "no sheet named '2011'" in message and "2009" in message


def test_all_sheets_with_different_headers(tmp_path: Path) -> None:
    path = excel(tmp_path, {"a": MINIMAL, "b": MINIMAL.rename(columns={"amount": "total"})})
    message = error_of(path, sheet="all")
    assert "orders.xlsx" in message and "same columns" in message and "--sheet NAME" in message


def test_sheet_given_for_a_csv(tmp_path: Path) -> None:
    message = error_of(
        write(tmp_path, "o.csv", "customer,date,amount\n1,2024-01-01,5\n"), sheet="x"
    )
    assert "o.csv" in message and "--sheet" in message


@pytest.mark.parametrize("name", ["o.parquet", "o.xlsx"])
def test_corrupt_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04 definitely not a real file")
    message = error_of(path)
    assert name in message and "cannot be read" in message and "corrupt" in message


def test_ragged_csv(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "o.csv", "customer,date,amount\n1,2,3\n1,2,3,4,5\n"))
    assert "o.csv" in message and "line 3" in message


def test_read_table_keeps_raw_strings(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "o.csv", "\ufeffCustomer ID,Price\n012345,1.50\n"))
    assert table.to_dict("list") == {"Customer ID": ["012345"], "Price": ["1.50"]}


def test_invalid_date_format(tmp_path: Path) -> None:
    path = write(tmp_path, "o.csv", "customer,date,amount\n1,2024-01-01,5\n")
    message = error_of(path, date_format="%Q")
    assert "o.csv" in message and "'date' (order_date)" in message and "--date-format" in message


def test_map_orders_on_a_frame_in_memory() -> None:
    raw = pd.DataFrame(
        {"user_id": [1, 2], "created_at": ["2024-01-01", "2024-01-02"], "revenue": [1.0, 2.0]},
        index=[7, 7],
    )
    result = map_orders(raw, source="upload")
    assert result.orders["customer_id"].tolist() == ["1", "2"]
    assert result.source == "upload" and result.rows_in == 2


def test_lines_without_an_order_id_are_noted(tmp_path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("customer,order,date,total\nc1,o1,2024-01-02,10\nc1,,2024-01-05,20\n"
                    "c2,,2024-01-06,5\n", encoding="utf-8")
    result = load_orders(path, mapping={"order_id": "order"})
    assert any("2 lines have no order id" in note and "'order'" in note
               for note in result.notes)
    assert result.orders["order_id"].isna().sum() == 2


def test_a_german_export_loads_without_a_mapping(tmp_path: Path) -> None:
    text = ("Rechnungsnr;Kundennr;Datum;Artikel;Menge;Betrag;Vorname;Telefon;Bestellstatus\n"
            "1001;K-17;05.01.2024;A1;2;12,50;Anna;0301234;bezahlt\n"
            "1002;K-18;06.01.2024;B2;1;1.234,00;Ben;0305678;storniert\n")
    result = load_orders(write(tmp_path, "bestellungen.csv", text))
    assert result.orders["customer_id"].tolist() == ["K-17", "K-18"]
    assert result.orders["amount"].tolist() == [12.5, 1234.0]
    assert result.orders["order_date"].dt.day.tolist() == [5, 6]
    assert "personal data columns not loaded: Vorname, Telefon" in result.notes
    assert any("(storniert (1))" in note for note in result.notes)


def test_a_magento_order_grid_loads_by_email_without_its_names(tmp_path: Path) -> None:
    text = ("ID,Purchase Point,Purchase Date,Bill-to Name,Ship-to Name,Grand Total (Base),"
            "Status,Billing Address,Customer Email,Subtotal\n"
            '000000001,Main Website,"Nov 5, 2023 10:15:02 AM",Veronica Costello,Veronica '
            'Costello,$45.00,Complete,"6146 Honey Bluff Parkway, Calder",roni@example.com,'
            "$40.00\n"
            '000000002,Main Website,"Nov 7, 2023 1:15:02 PM",John Doe,John Doe,$120.50,'
            "Canceled,a street,john@example.com,$110.50\n")
    result = load_orders(write(tmp_path, "magento.csv", text))
    assert result.mapping["customer_id"] == "Customer Email"
    assert "@" not in "".join(result.orders["customer_id"])  # pseudonymised
    assert result.orders["order_date"].tolist() == [pd.Timestamp("2023-11-05 10:15:02"),
                                                    pd.Timestamp("2023-11-07 13:15:02")]
    assert "personal data columns not loaded: Bill-to Name, Ship-to Name, Billing Address" \
        in result.notes


def test_amounts_in_several_currencies_are_noted(tmp_path: Path) -> None:
    text = ("customer,date,amount,Currency\n1,2024-01-01,5,EUR\n2,2024-01-02,7,usd\n"
            "3,2024-01-03,9,EUR\n4,2024-01-04,2,\n")
    (note,) = [n for n in load_orders(write(tmp_path, "o.csv", text)).notes if "currenc" in n]
    assert "'Currency': amounts in 2 currencies (EUR (2 lines), USD (1 line))" in note
    one = text.replace("usd", "EUR")
    assert not any("currenc" in n for n in load_orders(write(tmp_path, "p.csv", one)).notes)


TABLE = "customer,date,amount\n1,2024-01-05,10.5\n2,2024-02-06,20\n"


@pytest.mark.parametrize(("above", "title"), [
    ("Orders report\n\nExported 2026-01-02\n", "Orders report, Exported 2026-01-02"),
    ("Orders report,,\n", "Orders report"),  # a title in the first cell of a table row
], ids=["title_lines", "title_row"])
def test_a_title_above_the_column_names_is_skipped_and_noted(
    tmp_path: Path, above: str, title: str
) -> None:
    result = load_orders(write(tmp_path, "report.csv", above + TABLE))
    assert result.orders["amount"].tolist() == [10.5, 20.0] and result.rows_in == 2
    assert result.columns == ["customer", "date", "amount"]  # the table's, not the title's
    assert f"report.csv: the column names are below a title ({title}); the rows above " \
           "them are not read" in result.notes
    # named explicitly, the columns are found below the title too
    named = load_orders(write(tmp_path, "named.csv", above + TABLE.replace("customer", "who")),
                        mapping={"customer_id": "who"})
    assert named.orders["customer_id"].tolist() == ["1", "2"]


def test_a_title_above_an_excel_table_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame([["Orders export"], ["Shop: example"]]).to_excel(
            writer, index=False, header=False)
        MINIMAL.to_excel(writer, index=False, startrow=3)
    result = load_orders(path)
    assert result.orders["customer_id"].tolist() == ["1", "2"]
    assert any("below a title (Orders export, Shop: example)" in note for note in result.notes)


# --- event logs, B2B and warehouse exports ---------------------------------------------


@pytest.mark.parametrize(("headers", "expected"), [
    # Ta-Feng grocery
    (["TRANSACTION_DT", "CUSTOMER_ID", "AGE_GROUP", "PIN_CODE", "PRODUCT_SUBCLASS",
      "PRODUCT_ID", "AMOUNT", "ASSET", "SALES_PRICE"],
     {"customer_id": "CUSTOMER_ID", "order_date": "TRANSACTION_DT", "amount": "SALES_PRICE",
      "product_id": "PRODUCT_ID", "quantity": "AMOUNT"}),
    # Dunnhumby's The Complete Journey (its DAY is a day number, not a date)
    (["household_key", "BASKET_ID", "DAY", "PRODUCT_ID", "QUANTITY", "SALES_VALUE",
      "STORE_ID", "RETAIL_DISC", "TRANS_TIME", "WEEK_NO"],
     {"customer_id": "household_key", "amount": "SALES_VALUE", "order_id": "BASKET_ID",
      "product_id": "PRODUCT_ID", "quantity": "QUANTITY"}),
    # REES46 e-commerce events
    (["event_time", "event_type", "product_id", "category_id", "category_code", "brand",
      "price", "user_id", "user_session"],
     {"customer_id": "user_id", "order_date": "event_time", "order_id": "user_session",
      "product_id": "product_id", "unit_price": "price", "status": "event_type"}),
    # Kaggle's sample sales data (B2B): the customer is a company name
    (["ORDERNUMBER", "QUANTITYORDERED", "PRICEEACH", "SALES", "ORDERDATE", "STATUS",
      "PRODUCTCODE", "CUSTOMERNAME", "PHONE", "ADDRESSLINE1", "CONTACTLASTNAME",
      "CONTACTFIRSTNAME"],
     {"customer_id": "CUSTOMERNAME", "order_date": "ORDERDATE", "amount": "SALES",
      "order_id": "ORDERNUMBER", "product_id": "PRODUCTCODE", "quantity": "QUANTITYORDERED",
      "unit_price": "PRICEEACH", "status": "STATUS"}),
    # a data warehouse's fact table
    (["CustomerKey", "OrderDateKey", "SalesOrderNumber", "ProductKey", "OrderQuantity",
      "SalesAmount"],
     {"customer_id": "CustomerKey", "order_date": "OrderDateKey", "amount": "SalesAmount",
      "order_id": "SalesOrderNumber", "product_id": "ProductKey",
      "quantity": "OrderQuantity"}),
    # RetailRocket's events (no prices: the amount must still be mapped or derived)
    (["timestamp", "visitorid", "event", "itemid", "transactionid"],
     {"customer_id": "visitorid", "order_date": "timestamp", "order_id": "transactionid",
      "product_id": "itemid", "status": "event"}),
    # H&M's transactions: t_dat is the day, price the line's (no quantity)
    (["t_dat", "customer_id", "article_id", "price", "sales_channel_id"],
     {"customer_id": "customer_id", "order_date": "t_dat", "product_id": "article_id",
      "unit_price": "price"}),
    # Kaggle's Retail_Data_Transactions: three columns, one named loosely
    (["customer_id", "trans_date", "tran_amount"],
     {"customer_id": "customer_id", "order_date": "trans_date", "amount": "tran_amount"}),
    # a Magento sales export (increment_id is the order number)
    (["item_id", "status", "created_at", "sku", "price", "qty_ordered", "grand_total",
      "increment_id", "category_name_1", "discount_amount", "payment_method",
      "Working Date", "Customer Since", "Customer ID"],
     {"customer_id": "Customer ID", "order_date": "created_at", "amount": "grand_total",
      "order_id": "increment_id", "product_id": "sku", "quantity": "qty_ordered",
      "unit_price": "price", "discount": "discount_amount", "status": "status"}),
], ids=["ta_feng", "dunnhumby", "rees46", "sample_sales_b2b", "warehouse",
        "retailrocket", "h_and_m", "retail_data_transactions", "magento"])  # fmt: skip
def test_detect_mapping_of_public_retail_data_sets(
    headers: list[str], expected: dict[str, str]
) -> None:
    assert detect_mapping(headers) == dict(sorted(expected.items(), key=lambda kv: ORDER[kv[0]]))


@pytest.mark.parametrize(("headers", "expected"), [
    # Etsy's sold orders: the buyer's id, not the username beside it, nor a person's name
    (["Sale Date", "Order ID", "Buyer User ID", "Full Name", "Number of Items",
      "Order Value", "Coupon Code", "Discount Amount", "Order Total", "Status", "Buyer"],
     {"customer_id": "Buyer User ID", "order_date": "Sale Date", "amount": "Order Total",
      "order_id": "Order ID", "quantity": "Number of Items", "coupon_code": "Coupon Code",
      "discount": "Discount Amount", "status": "Status"}),
    # Shopware 6
    (["orderNumber", "orderDateTime", "amountTotal", "amountNet", "customerNumber"],
     {"customer_id": "customerNumber", "order_date": "orderDateTime", "amount": "amountTotal",
      "order_id": "orderNumber"}),
    # PayPal's activity download: the payer's e-mail is the customer (hashed)
    (["Date", "Time", "TimeZone", "Name", "Type", "Status", "Currency", "Gross", "Fee", "Net",
      "From Email Address", "Transaction ID"],
     {"customer_id": "From Email Address", "order_date": "Date", "amount": "Gross",
      "order_id": "Transaction ID", "status": "Status"}),
    # an ERP's billing documents (SAP)
    (["Billing Document", "Billing Date", "Sold-to party", "Material", "Net value"],
     {"customer_id": "Sold-to party", "order_date": "Billing Date", "amount": "Net value",
      "order_id": "Billing Document", "product_id": "Material"}),
    # BigCommerce: the total with its tax note
    (["Order ID", "Customer ID", "Customer Name", "Customer Email", "Order Date",
      "Order Status", "Subtotal (inc tax)", "Order Total (inc tax)"],
     {"customer_id": "Customer ID", "order_date": "Order Date",
      "amount": "Order Total (inc tax)", "order_id": "Order ID", "status": "Order Status"}),
], ids=["etsy", "shopware", "paypal", "sap", "bigcommerce"])  # fmt: skip
def test_detect_mapping_of_shop_platform_exports(headers: list[str],
                                                 expected: dict[str, str]) -> None:
    assert detect_mapping(headers) == dict(sorted(expected.items(), key=lambda kv: ORDER[kv[0]]))


@pytest.mark.parametrize(("headers", "expected"), [
    # units, currencies, time zones and hashing around a usual name
    (["Customer Id (hashed)", "Order Date (UTC)", "Purchase Amount (USD)"],
     {"customer_id": "Customer Id (hashed)", "order_date": "Order Date (UTC)",
      "amount": "Purchase Amount (USD)"}),
    (["customer_id_hashed", "txnDate", "txnAmount", "Order Qty"],
     {"customer_id": "customer_id_hashed", "order_date": "txnDate", "amount": "txnAmount",
      "quantity": "Order Qty"}),
    (["客户ID", "下单时间", "金额（元）"],
     {"customer_id": "客户ID", "order_date": "下单时间", "amount": "金额（元）"}),
    (["Customer", "Date", "Revenue EUR", "Total (EUR)"],
     {"customer_id": "Customer", "order_date": "Date", "amount": "Revenue EUR"}),
    # the same names said plainly still win over loose ones
    (["customer", "date", "Purchase Amount (USD)", "amount"],
     {"customer_id": "customer", "order_date": "date", "amount": "amount"}),
    # a count in brackets is no money; other amounts, a time of day, another value are not
    # the line's revenue or date
    (["customer", "date", "Sales (units)", "Unit Price"],
     {"customer_id": "customer", "order_date": "date", "unit_price": "Unit Price"}),
    (["customer", "day", "Shipping Amount", "Tax Amount (EUR)", "TRANS_TIME",
      "order_value_score"],
     {"customer_id": "customer"}),
    # Olist's line number is no product, and never loosely read as one
    (["customer_unique_id", "order_purchase_timestamp", "order_item_id", "price"],
     {"customer_id": "customer_unique_id", "order_date": "order_purchase_timestamp",
      "unit_price": "price"}),
])  # fmt: skip
def test_detect_mapping_reads_names_loosely_when_no_synonym_fits(
    headers: list[str], expected: dict[str, str]
) -> None:
    assert detect_mapping(headers) == dict(sorted(expected.items(), key=lambda kv: ORDER[kv[0]]))


def test_a_loosely_read_column_is_noted_and_a_mapping_overrides_it(tmp_path: Path) -> None:
    text = "customer_id,trans_date,tran_amount,tran_bonus\nc1,2024-01-05,10,1\nc2,2024-01-06,7,0\n"
    path = write(tmp_path, "shop.csv", text)
    loaded = load_orders(path)
    assert loaded.mapping["amount"] == "tran_amount"
    assert loaded.orders["amount"].tolist() == [10.0, 7.0]
    noted = [n for n in loaded.notes if "'tran_amount' is read as the amount" in n]
    assert len(noted) == 1 and "--map" in noted[0] and "trans_date" not in noted[0]
    chosen = load_orders(path, {"amount": "tran_bonus"})
    assert chosen.orders["amount"].tolist() == [1.0, 0.0]
    assert not [n for n in chosen.notes if "is read as the" in n]


def _event_log(rows: int, seed: int = 0) -> str:
    """A REES46-like log: mostly views and cart events, some purchases, with the text a
    parser can get wrong (quoted commas and quotes, blanks, NA, leading zeros, a title)."""
    rng = np.random.default_rng(seed)
    events = rng.choice(["view", "cart", "remove_from_cart", "purchase"], size=rows,
                        p=[0.8, 0.08, 0.02, 0.1])
    out = ["Events export (October 2019)", "",
           "event_time,event_type,product_id,brand,price,user_id,user_session"]
    for i, event in enumerate(events):
        brand = ['"acme, inc"', '"the ""best"" co"', "", "NA", "zoë"][i % 5]
        out.append(f"2019-10-{1 + i % 28:02d} 10:{i % 60:02d}:00 UTC,{event},{i % 97:05d},"
                   f"{brand},{(i % 13) + 0.5},{i % 41},s{i // 3}")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(("name", "encoding"), [("events.csv", "utf-8"),
                                              ("events.csv.gz", "utf-8"),
                                              ("events.csv", "cp1252")])
def test_a_large_event_log_is_filtered_while_read_with_the_same_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, encoding: str) -> None:
    import analytics.loading as loading

    text = _event_log(3_000)
    if name.endswith(".gz"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(text.encode(encoding)))
    else:
        path = write(tmp_path, name, text, encoding=encoding)
    whole = load_orders(path)
    assert whole.dropped_on_reading == {}
    monkeypatch.setattr(loading, "STREAM_BYTES", 1_000)  # stream this small file,
    monkeypatch.setattr(loading, "BLOCK_BYTES", 4_096)   # in many blocks
    streamed = load_orders(path)
    assert len(streamed.orders) < 0.2 * whole.rows_in  # the views were set aside
    assert streamed.rows_in == whole.rows_in == 3_000
    assert streamed.notes == whole.notes
    assert streamed.mapping == whole.mapping
    kept, report = clean_orders(streamed.orders, streamed.line_keys,
                                dropped_before=streamed.dropped_on_reading)
    expected, expected_report = clean_orders(whole.orders, whole.line_keys)
    pd.testing.assert_frame_equal(kept, expected, check_exact=True)
    assert report.to_dict() == expected_report.to_dict() and report.balanced
    assert report.dropped["not_a_purchase"] > 0


def test_the_cleaning_report_of_a_filtered_event_log_counts_every_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import analytics.loading as loading
    from analytics.pipeline import load_and_clean

    text = _event_log(3_000)
    path = write(tmp_path, "events.csv", text)
    monkeypatch.setattr(loading, "STREAM_BYTES", 1_000)
    monkeypatch.setattr(loading, "BLOCK_BYTES", 4_096)
    stages: list[str] = []
    for _ in range(2):  # read, then from the cleaned-lines cache
        lines, report, loaded = load_and_clean(path, cache_dir=tmp_path / "cache",
                                               progress=stages.append)
        assert report.rows_in == loaded.rows_in == 3_000 and report.balanced
        assert report.dropped["not_a_purchase"] == 3_000 - text.count(",purchase,")
        assert report.rows_kept == len(lines) > 0
    assert stages == ["clean", "cached"]


def test_a_large_log_that_is_not_an_event_log_is_read_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import analytics.loading as loading

    text = _event_log(500).replace(",view,", ",paid,").replace(",cart,", ",paid,")
    path = write(tmp_path, "orders.csv", text)
    monkeypatch.setattr(loading, "STREAM_BYTES", 1_000)
    monkeypatch.setattr(loading, "BLOCK_BYTES", 4_096)
    sniffed = loading._sniff_delimiter(path)
    assert loading._read_purchases(path, {}, sniffed) is None  # a shop's statuses: nothing to gain
    assert load_orders(path).rows_in == len(load_orders(path).orders) == 500


def test_an_event_log_of_views_only_says_so(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import analytics.loading as loading

    text = _event_log(400).replace(",purchase,", ",view,")
    monkeypatch.setattr(loading, "STREAM_BYTES", 1_000)
    monkeypatch.setattr(loading, "BLOCK_BYTES", 4_096)
    with pytest.raises(DataError, match=r"events.csv: No order lines left after cleaning: "
                                        r"400 lines in.*not_a_purchase: 400.*purchase events"):
        load_orders(write(tmp_path, "events.csv", text))


def test_ta_fengs_amount_counts_items_and_its_sales_price_is_the_money(tmp_path: Path) -> None:
    text = ("TRANSACTION_DT,CUSTOMER_ID,AGE_GROUP,PIN_CODE,PRODUCT_SUBCLASS,PRODUCT_ID,"
            "AMOUNT,ASSET,SALES_PRICE\n"
            "11/1/2000,01104905,45-49,115,110411,4710199010372,2,24,37\n"
            "11/1/2000,00418683,45-49,115,120107,4710857472535,1,48,57\n"
            "11/1/2000,01057331,35-39,115,100407,4710043654103,3,142,135\n")
    result = load_orders(write(tmp_path, "ta_feng.csv", text))
    assert result.orders["amount"].tolist() == [37.0, 57.0, 135.0]
    assert result.orders["quantity"].tolist() == [2, 1, 3]
    assert any("'AMOUNT' is read as the quantity and 'SALES_PRICE' as the amount" in note
               for note in result.notes)
    # a mapping the user gives wins
    kept = load_orders(tmp_path / "ta_feng.csv", mapping={"amount": "AMOUNT"})
    assert kept.orders["amount"].tolist() == [2.0, 1.0, 3.0]


def test_an_event_logs_views_and_cart_adds_are_not_purchases(tmp_path: Path) -> None:
    text = ("event_time,event_type,product_id,price,user_id,user_session\n"
            "2024-01-01 10:00:00 UTC,view,p1,5.0,u1,s1\n"
            "2024-01-01 10:01:00 UTC,cart,p1,5.0,u1,s1\n"
            "2024-01-01 10:02:00 UTC,purchase,p1,5.0,u1,s1\n"
            "2024-01-01 10:02:00 UTC,purchase,p2,7.0,u1,s1\n"
            "2024-01-02 09:00:00 UTC,remove_from_cart,p3,2.0,u2,s2\n"
            "2024-01-03 09:00:00 UTC,view,p3,2.0,u2,s3\n")
    result = load_orders(write(tmp_path, "events.csv", text))
    assert "events.csv: column 'event_type' (status): 4 events that are not purchases (view " \
           "(2), cart (1), remove_from_cart (1)) are dropped as not_a_purchase" in result.notes
    lines, report = clean_orders(result.orders, result.line_keys)
    assert report.dropped["not_a_purchase"] == 4 and report.balanced
    # the two purchases of one session are one order of 12.0
    assert lines["order_id"].tolist() == ["s1", "s1"] and lines["amount"].sum() == 12.0
    only_views = write(tmp_path, "views.csv", text.replace("purchase", "view"))
    loaded = load_orders(only_views)
    with pytest.raises(DataError, match=r"not_a_purchase: 6.*does the event log hold purchase "
                                        r"events"):
        clean_orders(loaded.orders, loaded.line_keys)


def test_a_customer_name_is_the_key_when_there_is_no_id(tmp_path: Path) -> None:
    text = ("ORDERNUMBER,SALES,ORDERDATE,CUSTOMERNAME,CONTACTFIRSTNAME\n"
            "10107,2871.00,2/24/2003 0:00,Land of Toys Inc.,Kwai\n"
            "10121,2765.90,5/7/2003 0:00,Reims Collectables,Paul\n"
            "10134,3884.34,7/1/2003 0:00,Land of Toys Inc.,Kwai\n")
    result = load_orders(write(tmp_path, "sales.csv", text))
    ids = result.orders["customer_id"]
    assert ids[0] == ids[2] != ids[1] and not ids.str.contains("Toys|Reims").any()
    assert any("customers are told apart by their name (the file has no customer id column)"
               in note and "pseudonymous hash of 'CUSTOMERNAME'" in note for note in result.notes)
    assert "personal data columns not loaded: CONTACTFIRSTNAME" in result.notes
    # an id column wins over the name
    with_id = load_orders(write(tmp_path, "ids.csv", text.replace(
        "CUSTOMERNAME,", "CUSTOMERNAME,CUSTOMERNUMBER,").replace("Inc.,", "Inc.,7,").replace(
        "Collectables,", "Collectables,8,")))
    assert with_id.orders["customer_id"].tolist() == ["7", "8", "7"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_dates_written_as_yyyymmdd_numbers(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"CustomerKey": [11000, 11001, 11002],
                          "OrderDateKey": [20240105, 20231231, 20241305],  # a typo
                          "SalesAmount": [3.5, 4.0, 1.0]})
    path = tmp_path / f"fact{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    result = load_orders(path)
    assert result.orders["order_date"].tolist()[:2] == [pd.Timestamp("2024-01-05"),
                                                        pd.Timestamp("2023-12-31")]
    assert pd.isna(result.orders["order_date"][2])
    assert any("dates read as numbers YYYYMMDD" in note for note in result.notes)
    assert any("1 values could not be read and are left missing (e.g. '20241305')" in note
               for note in result.notes)


def test_day_numbers_are_not_taken_for_dates(tmp_path: Path) -> None:
    text = "household_key,DAY,SALES_VALUE\n1,1,2.5\n2,731,3.0\n"
    message = error_of(write(tmp_path, "dh.csv", text), mapping={"order_date": "DAY"})
    assert "dh.csv: column 'DAY' (order_date): numbers from 1 to 731, which count days or " \
           "weeks from the start of the data and give no calendar date" in message
    assert "--map order_date=<header>" in message


def test_placeholders_for_no_customer_are_missing_customers(tmp_path: Path) -> None:
    text = ("customer_id,order_date,amount\n\\N,2024-01-01,5\nGuest,2024-01-01,5\n"
            "-,2024-01-02,5\n12,2024-01-03,4\nguesthouse,2024-01-03,4\n")
    result = load_orders(write(tmp_path, "o.csv", text))
    assert result.orders["customer_id"].tolist()[3:] == ["12", "guesthouse"]
    assert result.orders["customer_id"].isna().tolist()[:3] == [True, True, True]
    assert "o.csv: column 'customer_id' (customer_id): 3 lines have no customer but a " \
           "placeholder ('\\N' (1), 'Guest' (1), '-' (1)), such as guest checkouts: they are " \
           "dropped as missing_customer" in result.notes[0]
    lines, report = clean_orders(result.orders)
    assert report.dropped["missing_customer"] == 3 and len(lines) == 2


def test_woocommerces_guest_id_0_is_no_customer_but_an_ordinary_customer_0_is(
    tmp_path: Path
) -> None:
    # WooCommerce writes Customer User ID 0 for every guest checkout
    rows = [f"{1000 + i},{i % 40 + 1},2024-01-{i % 28 + 1:02d},5" for i in range(120)]
    rows += [f"{2000 + i},0,2024-02-{i % 28 + 1:02d},5" for i in range(200)]
    header = "Order ID,Customer User ID,Order Date,Order Total\n"
    result = load_orders(write(tmp_path, "woo.csv", header + "\n".join(rows) + "\n"))
    assert result.orders["customer_id"].isna().sum() == 200
    assert any("200 lines have no customer but a placeholder ('0' (200))" in note
               for note in result.notes)
    # a shop whose customer numbers start at 0: customer 0 is one customer like the others
    ordinary = [f"{1000 + i},{i % 40},2024-01-{i % 28 + 1:02d},5" for i in range(4000)]
    kept = load_orders(write(tmp_path, "shop.csv", header + "\n".join(ordinary) + "\n"))
    ids = kept.orders["customer_id"]
    assert ids.notna().all() and (ids == "0").sum() == 100


def test_a_point_of_sales_refunds_are_not_revenue(tmp_path: Path) -> None:
    text = ("Receipt No,Customer No,Date,Transaction Type,Amount\n"
            "R1,7,2024-01-05,Sale,20\nR2,7,2024-01-09,Refund,20\nR3,8,2024-01-10,Sale,5\n")
    result = load_orders(write(tmp_path, "pos.csv", text))
    assert result.mapping["status"] == "Transaction Type"
    lines, report = clean_orders(result.orders)
    assert lines["order_id"].tolist() == ["R1", "R3"]
    assert report.dropped["cancellation_or_return"] == 1
