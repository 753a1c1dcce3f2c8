"""Loading an order log: read CSV, Parquet or Excel, map its headers, convert the types.

Loading never drops a row: a value that cannot be read becomes missing (NA or NaT) so that
cleaning can count it. The one exception is a large event log's views and cart events,
set aside while the file is read so that a month of a big shop's events fits in memory;
they are counted (`LoadResult.dropped_on_reading`) and appear in the cleaning report as
if cleaning had dropped them. Bad input raises one `DataError` that names the file, the
column and the fix.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics.cleaning import (
    CANCELLATION_OR_RETURN,
    NOT_A_PURCHASE,
    CleaningReport,
    browsing_event,
    cancelled_status,
    magento_closed,
    nothing_left,
    numbers_and_dates,
    unpaid_status,
)
from analytics.errors import DataError
from analytics.schema import (
    AMOUNT,
    CANONICAL_COLUMNS,
    CATEGORY,
    CHANNEL,
    COUNTRY,
    COUPON_CODE,
    CUSTOMER_ID,
    DISCOUNT,
    ORDER_DATE,
    ORDER_ID,
    PRODUCT_ID,
    PRODUCT_NAME,
    QUANTITY,
    STATUS,
    UNIT_PRICE,
)

__all__ = [
    "OTHER_LANGUAGE_SYNONYMS",
    "SUPPORTED_EXTENSIONS",
    "SYNONYMS",
    "LoadResult",
    "detect_mapping",
    "load_orders",
    "loosely_mapped",
    "map_orders",
    "read_table",
]

TEXT_EXTENSIONS = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
PARQUET_EXTENSIONS = (".parquet", ".pq")
EXCEL_EXTENSIONS = (".xlsx", ".xlsm", ".xls")
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS + PARQUET_EXTENSIONS + EXCEL_EXTENSIONS
ALL_SHEETS = "all"

# Canonical field -> normalised header synonyms (lower case, letters and digits only), best
# first. The UCI Online Retail I and II headers come first, then common shop exports.
SYNONYMS: dict[str, tuple[str, ...]] = {
    CUSTOMER_ID: (
        "customeruniqueid", "customerid", "customer", "customerno", "customernumber",
        "customercode", "custid", "clientid", "client", "clientno", "userid", "user",
        "buyerid", "buyeruserid", "memberid", "accountid", "shopperid", "contactid",
        "customeruserid",
        "customerref", "customerreference", "clientnumber", "clientcode", "membernumber",
        "memberno", "accountnumber", "buyer", "shopper", "purchaser", "customerkey",
        "custno", "custnumber", "custcode", "clientkey", "memberkey", "userkey", "consumerid",
        "loyaltyid", "loyaltynumber", "householdkey", "householdid", "household",
        # an event log's visitor (RetailRocket's visitorid, GA's fullVisitorId)
        "visitorid", "fullvisitorid", "visitor",
        # an ERP's sold-to party
        "soldtoparty", "soldto",
    ),
    ORDER_DATE: (
        "invoicedate", "orderdate", "orderdatetime", "date", "datetime", "timestamp",
        "createdat", "orderedat", "purchasedat", "purchasedate", "transactiondate",
        "saledate", "paidat", "ordertime", "created", "time", "orderpurchasetimestamp",
        "purchasetimestamp", "datecreated", "createddate", "createdutc", "createdatutc",
        "orderdateutc", "orderplaced", "placedat", "orderedon", "purchasedon", "paymentdate",
        "transactiondt", "transactiontime", "transactiondatetime", "transdate", "transdt",
        "txndate", "txntime", "orderdt", "saletime", "salesdate", "invoicedatetime",
        "billdate", "receiptdate", "checkoutdate", "completedat", "eventtime", "eventdate",
        "orderdatekey", "datekey", "tdat", "billingdate",
    ),
    AMOUNT: (
        "amount", "revenue", "ordertotal", "total", "totalamount", "totalprice", "linetotal",
        "lineamount", "linerevenue", "sales", "salesamount", "netsales", "ordervalue",
        "value", "subtotal", "grandtotal", "gmv", "spend", "ordertotalamount", "orderamount",
        "totalsales", "netamount", "grossamount", "amountpaid", "totalpaid", "paidamount",
        "lineitemtotal", "itemtotal", "netrevenue", "grossrevenue", "salesvalue",
        "netvalue", "grossvalue", "linevalue", "totalvalue",
        # Shopware's amountTotal, PayPal's Gross
        "amounttotal", "gross",
        # CDNOW's dollar_value (as lifetimes ships it), Olist's payment_value
        "dollarvalue", "dollars", "dollaramount", "paymentvalue", "purchasevalue",
        "transactionvalue", "salevalue",
    ),
    ORDER_ID: (
        "invoiceno", "invoice", "invoiceid", "invoicenumber", "orderid", "orderno",
        "ordernumber", "order", "transactionid", "transaction", "receiptid", "basketid",
        "orderref", "orderreference", "receiptnumber", "receiptno", "saleid", "cartid",
        "orderkey", "invoicekey", "billno", "billnumber", "billid", "salesordernumber",
        "salesorderid", "incrementid", "billingdocument",
        # an event log's purchases in one session are one order
        "usersession", "sessionid",
    ),
    PRODUCT_ID: (
        "stockcode", "productid", "sku", "lineitemsku", "itemid", "productcode", "itemcode",
        "articleid", "article", "variantid", "asin", "productkey", "itemkey", "material",
    ),
    PRODUCT_NAME: (
        "description", "productname", "itemname", "lineitemname", "product", "producttitle",
        "title", "item", "itemdescription", "productdescription",
    ),
    CATEGORY: (
        "category", "productcategory", "categoryname", "itemcategory", "producttype",
        "department", "productcategoryname",
    ),
    QUANTITY: (
        "quantity", "qty", "lineitemquantity", "units", "unitssold", "quantityordered",
        "qtyordered", "orderedquantity", "orderquantity", "quantitysold", "qtysold",
        "salesquantity", "salesqty", "itemcount", "itemsqty", "numberofitems", "numitems",
        "pieces", "pcs",
    ),
    UNIT_PRICE: (
        "unitprice", "price", "itemprice", "lineitemprice", "priceeach", "priceperunit",
        "saleprice", "sellingprice",
    ),
    COUNTRY: ("country", "countrycode", "billingcountry", "shippingcountry"),
    CHANNEL: ("channel", "saleschannel", "orderchannel", "source"),
    COUPON_CODE: (
        "couponcode", "coupon", "promocode", "promo", "promotioncode", "voucher",
        "vouchercode", "discountcode",
    ),
    DISCOUNT: ("discount", "discountamount", "discounttotal", "discountvalue"),
    STATUS: (
        "orderstatus", "financialstatus", "paymentstatus", "status", "orderstate",
        "transactionstatus", "lineitemstatus", "itemstatus",
        # a point of sale's sale or refund
        "transactiontype", "ordertype", "salestype", "saletype", "documenttype", "kind",
        # an event log's kind of event: views and cart adds are dropped, purchases kept
        "eventtype", "eventname", "event", "behaviortype", "behaviourtype", "actiontype",
        "interactiontype",
    ),
}  # fmt: skip

# Headers of German, French, Spanish, Chinese, Portuguese, Italian, Dutch, Polish and Japanese
# exports, tried after the English ones.
OTHER_LANGUAGE_SYNONYMS: dict[str, tuple[str, ...]] = {
    CUSTOMER_ID: (
        "kundennummer", "kundennr", "kundenid", "kunde", "idclient", "numeroclient",
        "numéroclient", "codeclient", "idcliente", "numerocliente", "cliente", "客户id",
        "客户编号", "客户号", "客户", "用户id", "会员id", "买家id", "顾客id",
        # Portuguese, Italian, Dutch, Polish, Japanese
        "codigocliente", "códigocliente", "codicecliente", "klantnummer",
        "klantid", "klantnr", "klant", "klient", "idklienta", "顧客id", "顧客番号", "会員番号",
    ),
    ORDER_DATE: (
        "datum", "bestelldatum", "rechnungsdatum", "auftragsdatum", "belegdatum",
        "datecommande", "datedecommande", "datefacture", "fecha", "fechapedido",
        "fechadepedido", "fechafactura", "下单时间", "订单日期", "订单时间", "创建时间",
        "订单创建时间", "支付时间", "付款时间", "交易时间", "购买日期", "日期", "时间",
        "datapedido", "datadopedido", "datacompra", "dataordine", "datadellordine",
        "besteldatum", "orderdatum", "factuurdatum", "datazamowienia", "datazamówienia",
        "注文日", "注文日時", "購入日", "data",
    ),
    AMOUNT: (
        "betrag", "umsatz", "gesamtbetrag", "gesamtpreis", "summe", "montant", "montantttc",
        "montanttotal", "importe", "importetotal", "monto", "金额", "实付金额", "订单金额",
        "支付金额", "实收金额", "成交金额", "总金额", "销售额",
        "valortotal", "valor", "importo", "totale", "bedrag", "totaal", "totaalbedrag",
        "kwota", "wartosc", "wartość", "金額", "合計金額", "売上",
    ),
    ORDER_ID: (
        "rechnungsnummer", "rechnungsnr", "bestellnummer", "bestellnr", "auftragsnummer",
        "auftragsnr", "belegnummer", "numerocommande", "numérocommande", "numerodecommande",
        "numérodecommande", "commande", "numerofacture", "numérofacture", "numerodefacture",
        "numérodefacture", "facture", "numeropedido", "númeropedido", "numerodepedido",
        "númerodepedido", "pedido", "factura",
        "订单号", "订单编号", "订单id",
        "numeroordine", "ordine", "bestelnummer", "bestelling", "factuurnummer",
        "numerzamowienia", "numerzamówienia", "zamowienie", "zamówienie", "注文番号", "注文id",
    ),
    PRODUCT_ID: (
        "artikelnummer", "artikelnr", "artikel", "référence", "reference", "refproduit",
        "codeproduit", "codigoproducto", "sku编码", "商品id", "商品编码", "商品编号", "货号",
    ),
    PRODUCT_NAME: (
        "artikelbezeichnung", "bezeichnung", "produktname", "produit", "désignation",
        "designation", "libellé", "libelle", "producto", "descripcion", "descripción",
        "商品名称", "商品名", "商品标题", "宝贝标题",
        "produto", "descricao", "descrição", "prodotto", "descrizione", "omschrijving",
        "produkt", "nazwaproduktu",
    ),
    CATEGORY: (
        "kategorie", "warengruppe", "catégorie", "categorie", "categoria", "categoría",
        "类目", "品类", "商品类目", "分类",
    ),
    QUANTITY: (
        "menge", "anzahl", "stückzahl", "quantité", "quantite", "qté", "qte", "cantidad",
        "数量", "购买数量", "商品数量",
        "quantidade", "quantità", "quantita", "aantal", "ilosc", "ilość",
    ),
    UNIT_PRICE: (
        "einzelpreis", "stückpreis", "preis", "prixunitaire", "prix", "preciounitario",
        "precio", "单价", "商品单价", "价格",
        "precounitario", "preçounitário", "preco", "preço", "prezzounitario", "prezzo",
        "stukprijs", "prijs", "cenajednostkowa", "cena", "単価", "価格",
    ),
    COUNTRY: ("land", "pays", "pais", "país", "国家"),
    CHANNEL: ("kanal", "vertriebskanal", "canal", "渠道", "来源"),
    COUPON_CODE: ("gutschein", "gutscheincode", "rabattcode", "codepromo", "cupon", "cupón",
                  "优惠券", "优惠码", "券码"),
    DISCOUNT: ("rabatt", "remise", "descuento", "优惠金额", "折扣"),
    STATUS: ("bestellstatus", "statut", "statutcommande", "estado", "estadopedido",
             "订单状态", "交易状态", "状态", "statodellordine", "stato", "situacao", "situação",
             "statuspedido", "bestelstatus", "注文ステータス", "ステータス"),
}  # fmt: skip

# Direct identifiers: never mapped automatically, never in the canonical frame.
_PII_PARTS = (
    "email", "phone", "mobile", "telephone", "address", "street", "postcode", "postalcode",
    "zipcode", "zip", "surname", "birth", "iban",
    # German, French, Spanish, Chinese
    "telefon", "handy", "adresse", "strasse", "straße", "geburt", "téléphone", "telefono",
    "teléfono", "direccion", "dirección", "correo", "手机", "电话", "地址", "邮箱", "身份证",
    "收货人", "联系人", "姓名",
)  # fmt: skip
# Names of people in other languages, as whole headers ("nom" is inside many other words).
_PII_HEADERS = ("vorname", "nachname", "nom", "prenom", "prénom", "nombre", "apellido",
                "apellidos", "名字")
_PII_NAME_PREFIXES = (
    "", "first", "last", "full", "given", "family", "customer", "client", "user", "billing",
    "shipping", "contact", "buyer", "recipient", "billto", "shipto", "receiver", "consignee",
)  # fmt: skip
_PERSON_NAMES = ("firstname", "lastname", "fullname", "givenname", "familyname")
# Without a customer id column, customers are told apart by one of these (B2B exports such
# as Kaggle's sample sales data have only CUSTOMERNAME), pseudonymised as e-mails are.
_CUSTOMER_NAMES = ("customername", "clientname", "buyername", "accountname", "companyname",
                   "company", "membername", "username", "billingname", "fullname",
                   "buyerusername")
_ID_COLUMNS = (CUSTOMER_ID, ORDER_ID, PRODUCT_ID)
_NUMBER_COLUMNS = (AMOUNT, QUANTITY, UNIT_PRICE, DISCOUNT)
MAX_BAD_SHARE = 0.5  # above this share of unreadable values a column is rejected

_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %I:%M%p", " %I:%M:%S%p")
_DAY_FIRST = tuple(f"%d{s}%m{s}{y}{t}" for s in "/.-" for y in ("%Y", "%y") for t in _TIMES)
_MONTH_FIRST = tuple(f"%m{s}%d{s}{y}{t}" for s in "/.-" for y in ("%Y", "%y") for t in _TIMES)
_OTHER_DATES = (
    "ISO8601",
    *(f"%Y{s}%m{s}%d{t}" for s in "/." for t in _TIMES),
    # month names: 05-Jan-2024, 5 January 2024, Jan 5, 2024 10:00 AM, Fri, 05 Jan 2024 ...
    *(f"{d}{t}" for d in ("%d-%b-%Y", "%d-%b-%y", "%d %b %Y", "%d %B %Y", "%b %d, %Y",
                          "%B %d, %Y", "%b %d %Y", "%a, %d %b %Y", "%a %b %d %Y")
      for t in _TIMES),
)
DATE_FORMATS = _OTHER_DATES + _DAY_FIRST + _MONTH_FIRST
_DATE_SAMPLE = 500


@dataclass
class LoadResult:
    """An order log in canonical columns, and how it was read."""

    orders: pd.DataFrame
    mapping: dict[str, str]
    source: str
    rows_in: int
    ignored_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the table's, below a title if any
    # One hash per line of the columns not read (None when every column is read): two lines
    # equal in what was read are copies only if these are equal too (see clean_orders).
    line_keys: np.ndarray | None = None
    # Lines set aside while the file was read, by drop reason (an event log's views):
    # counted in ``rows_in``, and passed to ``clean_orders`` for its report.
    dropped_on_reading: dict[str, int] = field(default_factory=dict)
    # When customer ids are pseudonymous hashes of e-mail addresses or names: each hash's
    # address or name as the file first writes it (index: customer_id). Kept on this
    # machine to match audiences back; never given to the advisor's language model.
    contacts: pd.Series | None = None


# --- reading ---------------------------------------------------------------------------


def read_table(path: str | Path, sheet: str | None = None, *,
               purchases_of: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/TXT (optionally gzipped), Parquet or Excel file as it is.

    Text and Excel cells come back as strings (so "012345" keeps its zero); Parquet keeps
    its own types. `sheet` picks an Excel sheet; "all" stacks sheets with equal headers.

    With ``purchases_of`` (a mapping, maybe empty, as `load_orders` takes it), a large text
    file that turns out to be an event log keeps only the lines whose status (event type)
    is not a view or cart event; the others are counted by value in
    ``table.attrs["not_purchases"]`` (see `_read_purchases`).
    """
    path = Path(path)
    kind = _file_kind(path)
    if sheet is not None and kind != "excel":
        raise DataError(f"{path.name}: --sheet only applies to Excel files; leave it out.")
    try:
        table = None
        # a text file's separator and title, found once for every reader below
        sniffed = _sniff_delimiter(path) if kind == "text" and path.stat().st_size else None
        if sniffed and _headerless(path, sniffed, purchases_of):  # CDNOW's: no header line
            table = _read_text(path, sheet, headerless=True, sniffed=sniffed)
        if table is None and sniffed and purchases_of is not None:
            table = _read_purchases(path, purchases_of, sniffed)
        if table is None:
            table = (_read_text(path, sheet, sniffed=sniffed) if kind == "text"
                     else _READERS[kind](path, sheet))
    except DataError:
        raise
    except Exception as exc:  # any reader failure is a bad file, not a bug of ours
        raise DataError(
            f"{path.name}: cannot be read as {_KIND_NAMES[kind]} "
            f"({type(exc).__name__}: {str(exc).strip()}). "
            "Check that the file is complete and not corrupt, or export it again."
        ) from None
    table.columns = [str(c).strip().lstrip("\ufeff") for c in table.columns]
    if kind in ("text", "excel") and not table.attrs.get("headerless") \
            and _values_not_names(list(table.columns)) \
            and not _has_keys(table.columns, purchases_of):  # a sheet, or UTF-16 text
        table = (_read_text(path, sheet, headerless=True, sniffed=sniffed) if kind == "text"
                 else _read_excel(path, sheet, headerless=True))
    if table.empty and (events := table.attrs.get("not_purchases")):
        report = CleaningReport(rows_in=sum(events.values()), rows_kept=sum(events.values()))
        report.add(NOT_A_PURCHASE, report.rows_in)
        raise DataError(f"{path.name}: {nothing_left(report)}")
    if table.empty:
        raise DataError(f"{path.name}: the file has a header but no rows. Export it again.")
    return table


def _file_kind(path: Path) -> str:
    if not path.exists():
        raise DataError(f"File not found: {path}. Check the path and the file name.")
    if not path.is_file():
        raise DataError(f"{path} is a folder, not a file. Give the path of the orders file.")
    name = path.name.lower()
    for kind, extensions in (
        ("text", TEXT_EXTENSIONS),
        ("parquet", PARQUET_EXTENSIONS),
        ("excel", EXCEL_EXTENSIONS),
    ):
        if name.endswith(extensions):
            return kind
    raise DataError(
        f"{path.name}: unsupported file type {''.join(path.suffixes) or '(none)'}. "
        f"Supported: {', '.join(SUPPORTED_EXTENSIONS)}. Save the orders as CSV, Parquet or Excel."
    )


def _read_text(path: Path, sheet: str | None, headerless: bool = False,
               sniffed: tuple[str, list[str]] | None = None) -> pd.DataFrame:
    """A text file's table; ``headerless``: its first line is a row too, and the columns
    are named by their numbers, "1" to "n". ``sniffed``: its `_sniff_delimiter`, if found."""
    if path.stat().st_size == 0:
        raise DataError(f"{path.name}: the file is empty (no header, no rows). Export it again.")
    sep, title = sniffed or _sniff_delimiter(path)
    header = {"header": None} if headerless else {}
    if _utf16(path):  # Excel's "Unicode text" (tab-separated UTF-16): read as text
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-16", errors="replace", newline="") as handle:
            table = pd.read_csv(handle, sep=sep, dtype=str, skiprows=len(title), **header)
        table.attrs["title"] = title
        return _numbered(table) if headerless else table
    # UTF-8, else Windows-1252 (the UCI Online Retail CSV among many Windows exports); the
    # pyarrow parser is fast but strict, the C parser takes what pyarrow refuses.
    table = _read_fixed_width(path, title, header) if sep == FIXED_WIDTH else None
    if table is not None:
        return _numbered(table) if headerless else table
    for encoding in ("utf-8", "cp1252"):
        with contextlib.suppress(Exception):
            table = pd.read_csv(path, sep=sep, dtype=str, engine="pyarrow", encoding=encoding,
                                skiprows=len(title), **header)
            break
    if table is None:
        try:
            table = pd.read_csv(path, sep=sep, dtype=str, encoding="utf-8", skiprows=len(title),
                                **header)
        except UnicodeDecodeError:
            table = pd.read_csv(path, sep=sep, dtype=str, encoding="cp1252",
                                encoding_errors="replace", skiprows=len(title), **header)
    if sep == r"\s+" and table.shape[1] > 1 and table.iloc[:, -1].isna().any():
        # a line short of fields: an empty cell beyond the first lines, which splitting on
        # spaces would fill with the next cell's value; read by the columns' positions
        fixed = _read_fixed_width(path, title, header)
        table = table if fixed is None else fixed
    table.attrs["title"] = title  # noted by map_orders
    return _numbered(table) if headerless else table


def _read_fixed_width(path: Path, title: list[str], header: dict[str, object]
                      ) -> pd.DataFrame | None:
    """A text file's table read by the positions of its columns, lined up with spaces and
    found in its first 10,000 lines (`_column_spans`); None when they are not lined up."""
    lines = [line.rstrip("\r\n") for line in _first_lines(path, len(title) + 10_000)]
    spans = _column_spans([line for line in lines[len(title):] if line.strip()])
    if spans is None:
        return None
    table = pd.read_fwf(path, colspecs=spans, dtype=str, skiprows=len(title),
                        encoding="utf-8", encoding_errors="replace", **header)
    table.attrs.update(title=title, fixed_width=True)
    return table


def _numbered(table: pd.DataFrame) -> pd.DataFrame:
    table = table.set_axis([str(i + 1) for i in range(table.shape[1])], axis=1)
    table.attrs["headerless"] = True
    return table


def _headerless(path: Path, sniffed: tuple[str, list[str]],
                mapping: Mapping[str, str] | None) -> bool:
    """Whether a text file's first line (below a title) holds values, not column names:
    told from that line alone, so that the file is read once."""
    if _utf16(path):
        return False  # the whole read tells
    sep, title = sniffed
    line = _first_lines(path, len(title) + 1)[-1]
    fields = line.split() if sep in (r"\s+", FIXED_WIDTH) else next(
        csv.reader([line], delimiter=sep), [])
    fields = [f.strip().lstrip("\ufeff") for f in fields]
    return _values_not_names(fields) and not _has_keys(fields, mapping)


# A date written out in full (2024-01-05, 05/01/2024, with a time or not): no column's name
_FULL_DATE = re.compile(r"(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})"
                        r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?")


def _values_not_names(headers: Sequence[str]) -> bool:
    """Whether a first line holds values rather than column names: numbers and dates only,
    or no blank among them and a date written out in full (``A1, 2024-01-05 10:00, 11.77``)."""
    return len(headers) > 1 and (
        all(re.fullmatch(r"[\d\s.,:/+-]+", h) for h in headers)
        or (all(h.strip() for h in headers) and any(_FULL_DATE.fullmatch(h) for h in headers)))


def _sniff_delimiter(path: Path, candidates: str = ",;\t|") -> tuple[str, list[str]]:
    """The candidate that splits the first lines into the same number (>1) of fields, and
    the lines of a title above the table (a line or three without it), if any. Without
    one, columns lined up with spaces."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        head = handle.read(64_000)
    text = head.decode("utf-16" if head[:2] in _UTF16_BOMS else "utf-8", errors="replace")
    every = text.splitlines()[: -1 if len(head) == 64_000 else None][:50]
    lines = [line for line in every if line.strip()]
    found = _splitting(lines, candidates)
    if found is not None:
        return found, []
    for skip in range(1, min(4, len(lines) - 1)):
        found = _splitting(lines[skip:], candidates)
        if found is not None and all(found not in line for line in lines[:skip]):
            # a title: lines without the separator; skipped with the blank ones among them
            return found, every[:every.index(lines[skip])]
    spans = _column_spans(lines)
    if _splitting(lines, " ") is not None:  # runs of spaces, unless some cells are empty
        return (FIXED_WIDTH if spans and len({len(line.split()) for line in lines}) > 1
                else r"\s+"), []
    return (FIXED_WIDTH if spans else ","), []


# The "separator" of a file whose columns are lined up with spaces, some cells empty: read
# by the character positions of its columns (`_column_spans`), not by runs of spaces.
FIXED_WIDTH = "fixed width"


def _column_spans(lines: list[str]) -> list[tuple[int, int | None]] | None:
    """The columns of lines lined up with spaces, as (start, end) character positions
    (the last open-ended), where a cell may be empty: the runs of positions that are not
    blank in every line. None unless they are two or more, and the first line (its header,
    or a row) has something in each and splits into as many fields on spaces."""
    width = max(map(len, lines), default=0)
    used = [False] * width
    for line in lines:
        for i, c in enumerate(line):
            if not c.isspace():
                used[i] = True
    spans, start = [], None
    for i, filled in enumerate([*used, False]):
        if filled and start is None:
            start = i
        elif not filled and start is not None:
            spans.append((start, i))
            start = None
    first = lines[0] if lines else ""
    if len(spans) < 2 or len(first.split()) != len(spans) or any(
            not first[a:b].strip() for a, b in spans):
        return None
    return [*spans[:-1], (spans[-1][0], None)]


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _utf16(path: Path) -> bool:
    """Whether a text file starts with a UTF-16 byte order mark."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        return handle.read(2) in _UTF16_BOMS


def _splitting(lines: list[str], candidates: str) -> str | None:
    """The candidate that splits the lines into the same number (>1) of fields (90 % of
    them, and the first), the one that gives the most; " " splits on runs of spaces."""
    best, best_fields = None, 1
    for sep in candidates:
        if sep == " ":
            counts = [len(line.split()) for line in lines]
        else:
            counts = [len(row) for row in csv.reader(io.StringIO("\n".join(lines)),
                                                      delimiter=sep)]
        if counts and counts[0] > best_fields and counts.count(counts[0]) >= 0.9 * len(counts):
            best, best_fields = sep, counts[0]
    return best


# An event log at least this large is filtered while it is read: a month
# of a big shop's events (REES46: 42M lines, 5 GB, 1.5 % purchases) read whole would need
# more memory than most machines have, for lines that cleaning drops anyway.
STREAM_BYTES = 64 << 20
# ... when at least this share of the lines of its first block are views or cart events
EVENT_LOG_SHARE = 0.5
# Blocks read at a time. pyarrow reads ahead a number of blocks whatever their size: at
# 64 MB a 2.4 GB log peaked at 1.9 GB of memory, at 4 MB at 0.55 GB (imports included),
# in the same 5 s.
BLOCK_BYTES = 4 << 20


def _read_purchases(path: Path, mapping: Mapping[str, str],
                    sniffed: tuple[str, list[str]]) -> pd.DataFrame | None:
    """A large event log's lines that are not views or cart events, read block by block;
    None when the file is not such a log (small, no status column, few browsing events in
    its first block) or pyarrow cannot stream it: the caller then reads it whole.

    The kept lines are written back as CSV and read by `_read_text`'s own parser, so they
    come out exactly as a whole read would give them. ``attrs["not_purchases"]`` counts the
    lines set aside by event type, most frequent first.
    """
    if path.stat().st_size < STREAM_BYTES or _utf16(path):
        return None
    sep, title = sniffed
    if len(sep) != 1:
        return None
    try:
        header = next(csv.reader(io.StringIO(_first_lines(path, len(title) + 1)[-1]),
                                 delimiter=sep))
        status = detect_mapping([h.strip().lstrip("\ufeff") for h in header],
                                mapping).get(STATUS)
    except (DataError, StopIteration, IndexError):
        return None
    if status is None:
        return None
    for encoding in ("utf8", "cp1252"):
        with contextlib.suppress(pa.ArrowException, UnicodeError):
            return _stream_purchases(path, sep, title, header, status, encoding)
    return None


def _first_lines(path: Path, n: int) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
        return [handle.readline() for _ in range(n)]


def _stream_purchases(path: Path, sep: str, title: list[str], header: list[str],
                      status: str, encoding: str) -> pd.DataFrame | None:
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        str(path),
        read_options=pacsv.ReadOptions(skip_rows=len(title), encoding=encoding,
                                       block_size=BLOCK_BYTES, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=sep),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), null_values=[],
            strings_can_be_null=False, quoted_strings_can_be_null=False))
    index = reader.schema.names.index(next(n for n in reader.schema.names
                                           if n.strip().lstrip("\ufeff") == status))
    kept: list[pa.RecordBatch] = []
    dropped: dict[str, int] = {}
    for number, batch in enumerate(reader):
        events = batch.column(index).dictionary_encode()
        browsing = np.append(browsing_event(events.dictionary.to_pandas()).to_numpy(), False)
        codes = events.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        hit = browsing[codes]
        if number == 0 and hit.mean() < EVENT_LOG_SHARE:
            return None  # not an event log: nothing to gain, read it whole
        for value, n in zip(events.dictionary.to_pylist(),
                            np.bincount(codes[hit], minlength=len(events.dictionary)),
                            strict=True):
            if n:
                dropped[value] = dropped.get(value, 0) + int(n)
        kept.append(batch.filter(pa.array(~hit)))
    if any(len(batch) for batch in kept):
        buffer = io.BytesIO()
        pacsv.write_csv(pa.Table.from_batches(kept, schema=reader.schema), buffer)
        buffer.seek(0)
        table = pd.read_csv(buffer, dtype=str, engine="pyarrow")
    else:
        table = pd.DataFrame(columns=reader.schema.names, dtype="str")
    table.attrs["title"] = title
    table.attrs["not_purchases"] = dict(sorted(dropped.items(), key=lambda kv: -kv[1]))
    return table


def _read_parquet(path: Path, sheet: str | None) -> pd.DataFrame:
    return pd.read_parquet(path)


def _read_excel(path: Path, sheet: str | None, headerless: bool = False) -> pd.DataFrame:
    """A workbook's order sheet (see `_order_sheets`), or ``sheet``, or ``all`` sheets
    stacked; ``headerless``: the first row is a row too, and the columns are numbered."""
    table = _read_book(path, sheet, header=None if headerless else 0)
    return _numbered(table) if headerless else table


def _read_book(path: Path, sheet: str | None, header: int | None) -> pd.DataFrame:
    # calamine (Rust) reads .xlsx, .xlsm and old .xls about ten times faster than openpyxl.
    book = pd.ExcelFile(path, engine="calamine")
    with book:
        names = [str(name) for name in book.sheet_names]
        if sheet is None and len(names) == 1:
            sheet = names[0]
        if sheet is None:
            return _order_sheets(path, book, names)
        if sheet == ALL_SHEETS and ALL_SHEETS not in names:
            return _stack_sheets(path, book, names, header)
        if sheet not in names:
            raise DataError(
                f"{path.name}: no sheet named {sheet!r}. Sheets: {', '.join(names)}. "
                "Use --sheet with one of these names, or --sheet all."
            )
        return pd.read_excel(book, sheet_name=sheet, dtype=str, header=header)


def _order_sheets(path: Path, book: pd.ExcelFile, names: list[str]) -> pd.DataFrame:
    """No sheet chosen in a workbook of several: the sheets whose column names give a
    customer and a date, stacked when they have the same columns (UCI Online Retail II has
    a sheet per year), or the only such sheet (orders beside a summary). Else an error that
    asks for --sheet."""
    sheets = pd.read_excel(book, sheet_name=names, dtype=str)
    orders = {name: frame for name, frame in sheets.items()
              if _has_keys([str(c) for c in frame.columns], None)}
    if orders and len({tuple(map(str, f.columns)) for f in orders.values()}) == 1:
        table = pd.concat(orders.values(), ignore_index=True)
        table.attrs["sheets"] = (list(orders), len(names))
        return table
    why = (f"{', '.join(orders)} have customer and date columns, but not the same columns"
           if orders else "none has columns recognisable as the customer and the date")
    raise DataError(
        f"{path.name} has {len(names)} sheets: {', '.join(names)}; {why}. Choose one with "
        f"--sheet NAME (e.g. --sheet {names[0]!r}), or --sheet all to stack sheets that "
        "have the same columns."
    )


def _stack_sheets(path: Path, book: pd.ExcelFile, names: list[str], header: int | None
                  ) -> pd.DataFrame:
    sheets = pd.read_excel(book, sheet_name=names, dtype=str, header=header)
    sheets = {name: frame for name, frame in sheets.items() if len(frame.columns)}
    headers = {name: list(frame.columns) for name, frame in sheets.items()}
    if len({tuple(h) for h in headers.values()}) > 1:
        listing = "; ".join(f"{name}: {', '.join(map(str, h))}" for name, h in headers.items())
        raise DataError(
            f"{path.name}: --sheet all needs sheets with the same columns, but they differ "
            f"({listing}). Choose one sheet with --sheet NAME."
        )
    if not sheets:
        raise DataError(f"{path.name}: every sheet is empty. Export the orders again.")
    return pd.concat(sheets.values(), ignore_index=True)


_READERS = {"text": _read_text, "parquet": _read_parquet, "excel": _read_excel}
_KIND_NAMES = {"text": "a CSV or text file", "parquet": "a Parquet file", "excel": "an Excel file"}


# --- header mapping --------------------------------------------------------------------


def _normalise(header: str) -> str:
    return "".join(ch for ch in str(header).lower() if ch.isalnum())


def _is_pii(header: str) -> bool:
    key = _normalise(header)
    if any(part in key for part in _PII_PARTS) or key in _PII_HEADERS:
        return True
    return key.endswith(_PERSON_NAMES) or (
        key.endswith("name") and key.removesuffix("name") in _PII_NAME_PREFIXES)


# A second, looser reading of the headers no synonym names. Bracketed parts are a unit, a
# currency or a note ("Purchase Amount (USD)", "Order Date (UTC)", "金额（元）"), and so are
# these words at either end ("Revenue EUR", "customer_id_hashed"); a leading word says whose
# the field is ("tran_amount", "txn_date", "Purchase Date"). A count in brackets ("Sales
# (units)") does not make a money field.
_BRACKETED = re.compile(r"\(.*?\)|\[.*?\]|（.*?）|【.*?】")
_LOOSE_END_WORDS = (
    "usd", "eur", "gbp", "chf", "cad", "aud", "jpy", "cny", "rmb", "inr", "brl", "pln", "sek",
    "nok", "dkk", "mxn", "utc", "gmt", "local", "hashed", "hash", "masked", "anonymised",
    "anonymized", "pseudonymised", "pseudonymized", "encrypted", "incents", "cents",
    "inpence", "pence",
)  # fmt: skip
_LOOSE_QUALIFIERS = (
    "transaction", "purchase", "checkout", "payment", "receipt", "invoice", "billing",
    "trans", "tran", "txn", "order", "sales", "sale", "bill", "trx",
)  # fmt: skip
# The fields read loosely: not a product id ("order_item_id" numbers Olist's lines), nor the
# optional fields, which a wrong guess would cost more than a missing one.
_LOOSE_FIELDS = (CUSTOMER_ID, ORDER_DATE, AMOUNT, ORDER_ID, QUANTITY, UNIT_PRICE)
_COUNT_WORDS = frozenset({"units", "unit", "qty", "quantity", "pcs", "pieces", "items",
                          "count", "number", "no", "nr"})
_MONEY = (AMOUNT, UNIT_PRICE)
# A "time" after another word is mostly a time of day beside a date column (dunnhumby's
# TRANS_TIME, 1631); a bare "value" or "total" after one is some other value or total.
_NOT_LOOSE = frozenset({"time", "value", "total"})


def _loose_keys(header: str) -> tuple[list[str], bool]:
    """The keys a header is tried under by the loose reading, and whether a bracket of it
    counts things (then it is no money field)."""
    brackets = [_normalise(b) for b in _BRACKETED.findall(header)]
    key = _normalise(_BRACKETED.sub(" ", header))
    for _ in range(2):  # "Amount USD", "customer_id_hashed", "Revenue (net) EUR"
        for word in _LOOSE_END_WORDS:
            if key.endswith(word) and len(key) > len(word):
                key = key.removesuffix(word)
            if key.startswith(word) and len(key) > len(word):
                key = key.removeprefix(word)
    # after another word, some names say less: see _NOT_LOOSE
    keys = [key] + [rest for q in _LOOSE_QUALIFIERS
                    if key.startswith(q) and (rest := key.removeprefix(q))
                    and rest not in _NOT_LOOSE]
    counts = any(b.strip("0123456789") in _COUNT_WORDS for b in brackets)
    return [k for k in keys if k], counts


def _loose_mapping(headers: list[str], mapping: dict[str, str]) -> None:
    """Map the fields that no synonym found by the loose reading of the headers left, in
    place (see ``_BRACKETED``): the first field in ``_LOOSE_FIELDS`` takes a header."""
    free = [h for h in headers if not _is_pii(h) and h not in mapping.values()]
    keys = {h: _loose_keys(h) for h in free}
    for canonical in _LOOSE_FIELDS:
        if canonical in mapping:
            continue
        synonyms = SYNONYMS[canonical] + OTHER_LANGUAGE_SYNONYMS.get(canonical, ())
        rank = {s: i for i, s in enumerate(synonyms)}
        found = [(min(rank[k] for k in keys[h][0] if k in rank), i, h)  # best name, first
                 for i, h in enumerate(free)
                 if h not in mapping.values() and any(k in rank for k in keys[h][0])
                 and not (canonical in _MONEY and keys[h][1])]
        if found:
            mapping[canonical] = min(found)[2]


def _in_cents(header: str) -> bool:
    """Whether a money column's name says it counts the currency's hundredths."""
    key = _normalise(header)
    brackets = [_normalise(b) for b in _BRACKETED.findall(header)]
    return (key.endswith(("cents", "pence")) and not key.endswith("percents")) or bool(
        set(brackets) & {"cents", "cent", "pence", "incents", "inpence", "minorunits"})


def loosely_mapped(mapping: Mapping[str, str], overrides: Mapping[str, str] | None = None
                   ) -> dict[str, str]:
    """The fields of a `detect_mapping` result found by the loose reading of their headers
    (no synonym names them exactly): the ones a user should check."""
    # Ta-Feng's layout and a customer key made of e-mails or names have notes of their own
    ta_feng = _normalise(mapping.get(QUANTITY, "")) == "amount"
    return {c: h for c, h in mapping.items() if c not in (overrides or {})
            and _normalise(h) not in SYNONYMS.get(c, ()) + OTHER_LANGUAGE_SYNONYMS.get(c, ())
            and not (ta_feng and c in (AMOUNT, QUANTITY))
            and not (c == CUSTOMER_ID and (_is_pii(h) or _normalise(h) in _CUSTOMER_NAMES))}


# Ta-Feng's grocery data (AMOUNT, ASSET, SALES_PRICE): its AMOUNT counts the items of a
# line, and SALES_PRICE is what they sold for
_TA_FENG = ("amount", "salesprice", "asset")


def detect_mapping(
    columns: Iterable[str], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Map canonical fields to source headers: explicit `overrides` first, then synonyms.

    Headers that look like direct identifiers (names, emails, phones, addresses) are never
    picked automatically, except an email, or else a customer's name, as the customer key
    when nothing else fits (`map_orders` replaces it with a pseudonymous hash).
    """
    headers = [str(c) for c in columns]
    mapping = _check_overrides(overrides or {}, headers)
    by_key: dict[str, str] = {}
    for header in headers:
        if not _is_pii(header):
            by_key.setdefault(_normalise(header), header)
    for canonical, english in SYNONYMS.items():
        synonyms = english + OTHER_LANGUAGE_SYNONYMS.get(canonical, ())
        taken = set(mapping.values())
        found = next((by_key[s] for s in synonyms if s in by_key and by_key[s] not in taken), None)
        if canonical not in mapping and found is not None:
            mapping[canonical] = found
    if (all(key in by_key for key in _TA_FENG) and mapping.get(AMOUNT) == by_key["amount"]
            and not {AMOUNT, QUANTITY} & set(overrides or {})):
        mapping[QUANTITY], mapping[AMOUNT] = by_key["amount"], by_key["salesprice"]
    _loose_mapping(headers, mapping)
    if CUSTOMER_ID not in mapping:
        emails = [h for h in headers if "email" in _normalise(h)]
        names = sorted((h for h in headers if _normalise(h) in _CUSTOMER_NAMES),
                       key=lambda h: _CUSTOMER_NAMES.index(_normalise(h)))
        found = [h for h in emails + names if h not in mapping.values()]
        if found:
            mapping[CUSTOMER_ID] = found[0]
    return {c: mapping[c] for c in CANONICAL_COLUMNS if c in mapping}


def _check_overrides(overrides: Mapping[str, str], headers: list[str]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for canonical, header in overrides.items():
        if canonical not in CANONICAL_COLUMNS:
            raise DataError(
                f"Unknown field {canonical!r} in the column mapping. "
                f"Valid fields: {', '.join(CANONICAL_COLUMNS)}."
            )
        checked[canonical] = _find_header(canonical, header, headers)
    return checked


def _find_header(canonical: str, header: str, headers: list[str]) -> str:
    if header in headers:
        return header
    loose = [h for h in headers if _normalise(h) == _normalise(header)]
    if len(loose) == 1:
        return loose[0]
    raise DataError(
        f"The mapping {canonical}={header!r} names a column that is not in the file. "
        f"Columns in the file: {', '.join(headers)}. Use --map {canonical}=<one of these>."
    )


# --- mapping and converting ------------------------------------------------------------


def load_orders(
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    date_format: str | None = None,
) -> LoadResult:
    """Read an order file and return its lines in canonical columns and types."""
    path = Path(path)
    return map_orders(read_table(path, sheet, purchases_of=mapping or {}), mapping,
                      date_format, source=path.name)


def map_orders(
    raw: pd.DataFrame,
    mapping: Mapping[str, str] | None = None,
    date_format: str | None = None,
    source: str = "data",
) -> LoadResult:
    """Map and convert an already read table (see `load_orders`); rows are never dropped."""
    title = [line.strip() for line in raw.attrs.get("title", [])]  # skipped by read_table
    sheets, in_book = raw.attrs.get("sheets", ([], 0))  # chosen by read_table
    headerless = bool(raw.attrs.get("headerless"))  # numbered by read_table
    fixed_width = bool(raw.attrs.get("fixed_width"))  # read by positions by read_table
    raw = raw.set_axis([str(c) for c in raw.columns], axis=1).reset_index(drop=True)
    raw, title_row = (raw, []) if headerless else _below_title(raw, mapping)
    title += title_row
    told = ""
    if headerless:
        mapping, told = _headerless_mapping(raw, mapping or {}, source)
    try:
        resolved = detect_mapping(raw.columns, mapping)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from None
    _check_required(resolved, list(raw.columns), source)
    not_purchases = raw.attrs.get("not_purchases", {})  # set aside by read_table
    result = LoadResult(pd.DataFrame(index=raw.index), resolved, source,
                        len(raw) + sum(not_purchases.values()), columns=list(raw.columns))
    if not_purchases:
        result.dropped_on_reading[NOT_A_PURCHASE] = sum(not_purchases.values())
    if fixed_width:
        result.notes.append(f"{source}: columns lined up with spaces, some cells empty: read "
                            "by the columns' positions")
    if len(sheets) > 1:
        result.notes.append(
            f"{source}: sheets {', '.join(map(repr, sheets))} stacked (the same columns); "
            "--sheet NAME reads one")
    elif sheets:
        result.notes.append(
            f"{source}: sheet {sheets[0]!r} read, the only one of {in_book} with customer "
            "and date columns; --sheet NAME reads another")
    if told:
        result.notes.append(told)
    if title := [line for line in title if line]:
        result.notes.append(
            f"{source}: the column names are below a title ({', '.join(title)}); the rows "
            "above them are not read")
    if _normalise(resolved.get(QUANTITY, "")) == "amount":
        result.notes.append(
            f"{source}: column {resolved[QUANTITY]!r} is read as the quantity and "
            f"{resolved[AMOUNT]!r} as the amount (Ta-Feng's layout, where the amount column "
            f"counts items); --map amount={resolved[QUANTITY]!r} reads it as money")
    if loose := loosely_mapped(resolved, mapping):
        result.notes.append(
            f"{source}: " + ", ".join(f"column {h!r} is read as the {c}" for c, h in loose.items())
            + " (no usual name for it in the file: the nearest); --map FIELD=HEADER reads "
            "another column")
    for canonical, header in resolved.items():
        result.orders[canonical] = _convert(raw[header], canonical, header, date_format, result)
    _add_times(raw, resolved, result)
    for canonical in (c for c in (AMOUNT, UNIT_PRICE, DISCOUNT) if c in resolved):
        if _in_cents(resolved[canonical]):  # "amount_cents", "Total (pence)"
            result.orders[canonical] = result.orders[canonical] / 100
            result.notes.append(
                f"{source}: column {resolved[canonical]!r} ({canonical}) counts cents: its "
                "values are divided by 100")
    _derive_amount(result, explicit=AMOUNT in (mapping or {}))
    if STATUS in result.orders:
        _read_status(result, not_purchases)
    if ORDER_ID in result.orders and (missing := int(result.orders[ORDER_ID].isna().sum())):
        result.notes.append(
            f"{source}: column {resolved[ORDER_ID]!r} (order_id): {missing:,} lines have no "
            "order id; a customer's lines at one time count as one order")
    result.orders = result.orders[[c for c in CANONICAL_COLUMNS if c in result.orders]]
    result.ignored_columns = [c for c in raw.columns if c not in resolved.values()]
    if result.ignored_columns:  # Olist's order_item_id tells two units of a product apart
        result.line_keys = _line_keys(result.orders, raw[result.ignored_columns])
    _note_currencies(raw, result)
    pii = [c for c in result.ignored_columns if _is_pii(c)]
    if pii:
        result.notes.append(f"personal data columns not loaded: {', '.join(pii)}")
    return result


# A time of day beside the date (PayPal's and point-of-sale exports: Date, Time)
_TIME_HEADERS = ("time", "ordertime", "transactiontime", "transtime", "txntime", "saletime",
                 "purchasetime", "timeofday", "uhrzeit", "heure", "hora", "ora", "tijd",
                 "时间", "時間", "时刻")
_TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%H:%M:%S.%f", "%I:%M:%S %p", "%I:%M %p", "%I:%M:%S%p",
                 "%I:%M%p")


def _add_times(raw: pd.DataFrame, resolved: Mapping[str, str], result: LoadResult) -> None:
    """Dates without a time of day get the one of a time column beside them: without it,
    a customer's purchases on one day would be one order when the file has no order id."""
    candidates = [h for h in raw.columns if h not in resolved.values()
                  and _normalise(h) in _TIME_HEADERS]
    dates = result.orders.get(ORDER_DATE)
    if (not candidates or dates is None or not dates.notna().any()
            or (dates != dates.dt.normalize()).any()):
        return
    for header in candidates:
        times = _times_of_day(raw[header])
        if times is not None:
            result.orders[ORDER_DATE] = dates + times.fillna(pd.Timedelta(0)).to_numpy()
            result.notes.append(f"{result.source}: the times of day in column {header!r} "
                                f"are added to the dates of {resolved[ORDER_DATE]!r}")
            return


def _times_of_day(values: pd.Series) -> pd.Series | None:
    """Times of day ("14:05", "2:05 PM", or HHMM numbers as dunnhumby's 1405) as time
    since midnight; None unless nine in ten of the values read so."""
    text = _to_text(values).str.strip()
    present = int(text.notna().sum())
    if not present:
        return None
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in _TIME_FORMATS:  # each value by the first format that reads it
        missing = parsed.isna() & text.notna()
        if not missing.any():
            break
        parsed[missing] = pd.to_datetime(text[missing], format=fmt, errors="coerce")
    if parsed.notna().sum() >= 0.9 * present:
        return parsed - parsed.dt.normalize()
    numbers = pd.to_numeric(text, errors="coerce")
    known = numbers.dropna()
    if (len(known) >= 0.9 * present and known.between(0, 2359).all()
            and (known % 1 == 0).all() and (known % 100 < 60).all()):
        return (pd.to_timedelta(numbers // 100, unit="h")
                + pd.to_timedelta(numbers % 100, unit="min"))
    return None


_CURRENCY_HEADERS = ("currency", "currencycode", "währung", "waehrung", "devise", "moneda",
                     "divisa", "币种", "货币")


def _note_currencies(raw: pd.DataFrame, result: LoadResult) -> None:
    """Amounts in several currencies are added up as they are: say so."""
    for header in result.ignored_columns:
        if _normalise(header) in _CURRENCY_HEADERS:
            codes = raw[header].dropna().astype("str").str.strip().str.upper()
            counts = codes[codes.ne("")].value_counts()
            if len(counts) > 1:
                shown = ", ".join(f"{code} ({n:,} line{'' if n == 1 else 's'})"
                                  for code, n in counts.head(4).items())
                result.notes.append(
                    f"{result.source}: column {header!r}: amounts in {len(counts)} currencies "
                    f"({shown}) are added up as they are; convert them to one currency "
                    "first, or analyse each currency's orders apart")


def _line_keys(orders: pd.DataFrame, rest: pd.DataFrame) -> np.ndarray:
    """A hash of the columns not read, for the lines that may be copies of another: those
    that repeat in the numbers and dates read (the others get 0). Hashing every line of an
    export with dozens of columns (Shopify's has 70) would cost seconds per million."""
    cheap = numbers_and_dates(orders, orders.columns)
    repeats = orders[cheap].duplicated(keep=False).to_numpy() if cheap else \
        np.ones(len(orders), dtype=bool)
    keys = np.zeros(len(orders), dtype=np.uint64)
    if repeats.any():
        keys[repeats] = pd.util.hash_pandas_object(rest.loc[repeats], index=False).to_numpy()
    return keys


def _has_keys(names: Iterable[str], mapping: Mapping[str, str] | None) -> bool:
    """Whether these column names give a customer and a date column."""
    try:
        found = detect_mapping(names, mapping)
    except DataError:  # a --map header that is not among them
        return False
    return CUSTOMER_ID in found and ORDER_DATE in found


def _below_title(raw: pd.DataFrame, mapping: Mapping[str, str] | None,
                 max_rows: int = 10) -> tuple[pd.DataFrame, list[str]]:
    """The table, and the title above it: when the column names read are not the table's
    but one of the top rows holds them (a report exported with a title above its table),
    the rows below that one, and the text of the title. Else the table as it is."""
    if _has_keys(raw.columns, mapping):
        return raw, []
    for row in range(min(max_rows, len(raw))):
        names = [str(v).strip() for v in raw.iloc[row]]
        if _has_keys(names, mapping):
            title = [c for c in raw.columns if not c.startswith("Unnamed:")]
            title += [str(v).strip() for v in raw.iloc[:row].to_numpy().ravel()
                      if pd.notna(v) and str(v).strip()]
            return raw.iloc[row + 1:].set_axis(names, axis=1).reset_index(drop=True), title
    return raw, []


def _kind_of_values(values: pd.Series) -> str:
    """What a column of a file without a header line holds, judged by a spread sample of
    its values: "date" (YYYYMMDD numbers, or text that reads as dates), "integer",
    "decimal" (numbers not all whole) or "text"."""
    text = values.dropna().astype("str").str.strip()
    text = text[text != ""]
    text = text.iloc[:: max(1, len(text) // 2000)]
    if text.empty:
        return "text"
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        if not (numbers % 1 == 0).all():
            return "decimal"
        as_dates = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        return "date" if text.str.len().eq(8).all() and as_dates.notna().all() else "integer"
    try:
        dates = _to_datetime(text, None, "", [])
    except DataError:
        return "text"
    return "date" if dates.notna().mean() >= 0.9 else "text"


def _headerless_mapping(raw: pd.DataFrame, mapping: Mapping[str, str], source: str
                        ) -> tuple[dict[str, str], str]:
    """The columns of a file without a header line (columns numbered "1" to "n"), told
    apart by their values where that is unambiguous, as in CDNOW's ``00001 19970101 1
    11.77``: the one column of dates is the date, the one of decimals the amount, and of
    the rest the one with more distinct values the customer, a column of small whole
    numbers beside it the quantity. ``mapping`` (``--map amount=4``) comes first. Returns
    the mapping and the note that says how the columns were read."""
    chosen = {field: str(column) for field, column in mapping.items()}
    free = [c for c in raw.columns if c not in chosen.values()]
    kinds = {c: _kind_of_values(raw[c]) for c in free}
    dates = [c for c in free if kinds[c] == "date"]
    decimals = [c for c in free if kinds[c] == "decimal"]
    if ORDER_DATE not in chosen and len(dates) == 1:
        chosen[ORDER_DATE] = dates[0]
    if AMOUNT not in chosen and UNIT_PRICE not in chosen and len(decimals) == 1:
        chosen[AMOUNT] = decimals[0]
    rest = [c for c in free if c not in chosen.values()]
    if CUSTOMER_ID not in chosen and rest:
        distinct = {c: raw[c].nunique() for c in rest}
        ids = sorted(rest, key=lambda c: -distinct[c])
        small = [c for c in ids[1:] if kinds[c] == "integer" and QUANTITY not in chosen
                 and pd.to_numeric(raw[c], errors="coerce").between(0, 1000).all()]
        if len(rest) == 1 or (len(rest) == 2 and small and distinct[ids[0]] > distinct[ids[1]]):
            chosen[CUSTOMER_ID] = ids[0]
            if small:
                chosen[QUANTITY] = small[0]
    numbers = "--map customer_id=1 --map order_date=2 --map amount=4"
    if not {CUSTOMER_ID, ORDER_DATE} <= chosen.keys() or not {AMOUNT, UNIT_PRICE} & chosen.keys():
        shown = ", ".join(f"{c}: {kinds.get(c, 'mapped')} ({raw[c].iloc[0]})" for c in raw.columns)
        raise DataError(
            f"{source}: the file has no header line, and its columns ({shown}) cannot be told "
            "apart by their values. Add a first line that names the columns, separated as "
            "the values are (e.g. customer_id,order_date,amount), or say which column is "
            f"which by its number, e.g. {numbers}.")
    order = [c for c in CANONICAL_COLUMNS if c in chosen]
    read = ", ".join(f"column {chosen[c]} as the {c}" for c in order)
    return chosen, (f"{source}: no header line; {read}, judged by their values. If that is "
                    f"wrong, add a header line or map the columns by number, e.g. {numbers}")


def _check_required(mapping: dict[str, str], headers: list[str], source: str) -> None:
    missing = [c for c in (CUSTOMER_ID, ORDER_DATE) if c not in mapping]
    if missing and _values_not_names(headers):
        raise DataError(
            f"{source}: the first line ({', '.join(headers)}) holds values, not column names. "
            "Add a first line that names the columns, separated as the values are, e.g. "
            f"{','.join(['customer_id', 'order_date', 'amount'][:len(headers)])}"
            f"{',...' if len(headers) > 3 else ''} in the order the values come, then load "
            "it again.")
    if missing:
        fix = " ".join(f"--map {c}=<header>" for c in missing)
        raise DataError(
            f"{source}: no column that can be the {' or the '.join(missing)}. "
            f"Columns in the file: {', '.join(headers)}. Say which column holds it: {fix}."
        )
    if AMOUNT not in mapping and UNIT_PRICE not in mapping:
        raise DataError(
            f"{source}: no amount column, and no unit price to compute it from. "
            f"Columns in the file: {', '.join(headers)}. Map the line revenue with "
            f"--map amount=<header>, or --map quantity=<header> --map unit_price=<header>."
        )


def _convert(
    values: pd.Series, canonical: str, header: str, date_format: str | None, result: LoadResult
) -> pd.Series:
    where = f"{result.source}: column {header!r} ({canonical})"
    if canonical == ORDER_DATE:
        return _to_datetime(values, date_format, where, result.notes)
    if canonical in _NUMBER_COLUMNS:
        return _to_float(values, canonical, where, result.notes)
    if canonical not in _ID_COLUMNS:
        return _to_text(values)
    ids = _to_id(values, where, result.notes)
    if canonical == CUSTOMER_ID:
        return _customer_ids(ids, header, where, result)
    _note_leading_zeros(ids, where, result.notes)
    return ids


def _customer_ids(ids: pd.Series, header: str, where: str, result: LoadResult) -> pd.Series:
    """Customer ids without guest placeholders, pseudonymised when they are names or
    e-mail addresses (their lookup goes to ``result.contacts``)."""
    notes = result.notes
    ids = _without_guests(ids, where, notes)
    if _normalise(header) in _CUSTOMER_NAMES:
        notes.append(
            f"{where}: customers are told apart by their name (the file has no customer id "
            "column), so two customers of one name count as one; customer_id is a "
            f"pseudonymous hash of {header!r}. Map an id column with --map customer_id=<header>"
            " if the file has one")
    elif _is_pii(header):
        notes.append(f"customer_id is a pseudonymous hash of {header!r}")
    elif _mostly_emails(ids):
        notes.append(
            f"{where}: the ids are e-mail addresses; customer_id is a pseudonymous hash of "
            "them, so that no address reaches the advisor's language model")
    else:
        _note_leading_zeros(ids, where, notes)
        return ids
    hashed, result.contacts = _pseudonymise(ids)
    return hashed


def _mostly_emails(ids: pd.Series, sample: int = 1_000) -> bool:
    """Whether most distinct ids (of a sample) are e-mail addresses."""
    distinct = pd.Series(ids.dropna().unique()[:sample], dtype="str")
    return bool(len(distinct)) and bool(
        distinct.str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+").mean() >= 0.5)


def _derive_amount(result: LoadResult, explicit: bool) -> None:
    orders = result.orders
    if AMOUNT not in orders and QUANTITY not in orders:
        # Olist's order items, an event log's purchases: a line per unit, with its price
        orders[AMOUNT] = orders[UNIT_PRICE]
        result.notes.append(
            f"{result.source}: no amount or quantity column: each line counts as one item, "
            f"and its amount is its price (column {result.mapping[UNIT_PRICE]!r}); if the "
            "file has quantities, map them with --map quantity=<header>")
    elif AMOUNT not in orders:
        orders[AMOUNT] = orders[QUANTITY] * orders[UNIT_PRICE]
        result.notes.append("amount derived as quantity × unit_price")
    elif not explicit and _order_totals(orders):
        header = result.mapping.pop(AMOUNT)  # the column is not what the amount is read from
        orders[AMOUNT] = orders[QUANTITY] * orders[UNIT_PRICE]
        result.notes.append(
            f"{result.source}: column {header!r} (amount) is filled on one line per order (an "
            "order total, as in a Shopify export): each line's amount is its quantity × "
            f"unit_price instead, so that no line is lost; --map amount={header!r} keeps the "
            "column, and drops the lines without it")


def _order_numbers(orders: pd.DataFrame) -> np.ndarray:
    """A number per order: its order id, or without one a customer's lines at one time;
    -1 for a line without them."""
    keys = [ORDER_ID] if ORDER_ID in orders else [CUSTOMER_ID, ORDER_DATE]
    return orders.groupby(keys, sort=False).ngroup().to_numpy()


def _read_status(result: LoadResult, set_aside: Mapping[str, int]) -> None:
    """Give lines without a status their order's (Shopify writes it on an order's first line
    only), and note which lines cleaning will drop for a cancelled or refunded status, or
    as not purchases (with those ``set_aside`` while the file was read)."""
    orders, header = result.orders, result.mapping[STATUS]
    status = orders[STATUS]
    blank = status.isna()
    if blank.any() and not blank.all():
        order = _order_numbers(orders)
        known = order >= 0
        first = status[known].groupby(order[known]).first()  # the first status of each order
        given = first.reindex(order).to_numpy()  # -1 (no order) is not among the orders
        orders[STATUS] = status.fillna(pd.Series(given, index=orders.index))
    counts = orders[STATUS].value_counts()  # the tests run on the few distinct statuses
    if set_aside:
        counts = counts.add(pd.Series(set_aside, dtype="int64"), fill_value=0).astype(
            "int64").sort_values(ascending=False, kind="stable")
    for test, what, reason in (
            (browsing_event, "events that are not purchases", NOT_A_PURCHASE),
            (unpaid_status, "lines of orders never paid (a payment not completed, or a "
             "checkout's draft)", NOT_A_PURCHASE),
            (cancelled_status, "lines of orders that were cancelled, refunded or failed",
             CANCELLATION_OR_RETURN)):
        hit = counts[test(counts.index.to_series()).to_numpy()]
        if len(hit):
            shown = ", ".join(f"{value} ({n:,})" for value, n in hit.head(4).items())
            result.notes.append(f"{result.source}: column {header!r} (status): "
                                f"{int(hit.sum()):,} {what} ({shown}) are dropped as {reason}")
    closed = magento_closed(counts.index.to_series()).to_numpy()
    if closed.any():
        result.notes.append(
            f"{result.source}: column {header!r} (status): the statuses are Magento's, where "
            f"'closed' is an order refunded in full: its {int(counts[closed].sum()):,} lines "
            "are dropped as cancellation_or_return")


def _order_totals(orders: pd.DataFrame) -> bool:
    """Whether the amount is an order's total on one of its lines, blank on the others,
    while those lines have a quantity and a unit price (90 % of them, and of the orders)."""
    if QUANTITY not in orders or UNIT_PRICE not in orders:
        return False
    blank = orders[AMOUNT].isna()
    if not blank.any():
        return False
    line_value = orders.loc[blank, QUANTITY] * orders.loc[blank, UNIT_PRICE]
    if line_value.notna().mean() < 0.9:
        return False
    order = _order_numbers(orders)
    known = order >= 0
    filled = np.bincount(order[known], weights=orders[AMOUNT].notna().to_numpy(dtype=float)[known])
    with_blanks = np.unique(order[blank.to_numpy() & known])
    return len(with_blanks) > 0 and bool((filled[with_blanks] == 1).mean() >= 0.9)


# --- text and ids ----------------------------------------------------------------------


def _to_text(values: pd.Series) -> pd.Series:
    text = values.astype("str").str.strip()
    return text.where(text.ne(""))


def _to_id(values: pd.Series, where: str, notes: list[str]) -> pd.Series:
    """Ids as strings: '12345.0' (a float artefact) becomes '12345'; '012345' stays."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    text = _to_text(values)
    if not text.str.endswith(".0").any():
        return text
    artefacts = text.str.fullmatch(r"\d+\.0+").fillna(False)
    if artefacts.any():
        notes.append(
            f"{where}: {int(artefacts.sum())} ids written as floats "
            "(e.g. '12345.0') read as whole numbers ('12345')"
        )
    return text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)


# Customer ids that stand for "no customer": guest checkouts, a database's NULL (\\N).
_NO_CUSTOMER = (
    "\\N", "guest", "guests", "guest checkout", "guest user", "anonymous", "anon", "unknown",
    "not set", "(not set)", "-", "--", "?", "n/a", "na", "none", "null", "nil", "undefined",
    "#N/A", "no account", "nan",
)  # fmt: skip
_NO_CUSTOMER_WRITTEN = sorted({form for word in _NO_CUSTOMER
                               for form in (word, word.lower(), word.upper(), word.title())})
_ZERO_IDS = ("0", "00", "000", "0000", "-1")  # WooCommerce's guest (0), a sentinel -1


def _without_guests(ids: pd.Series, where: str, notes: list[str]) -> pd.Series:
    """Customer ids with placeholders for "no customer" made missing (cleaning drops them
    as missing_customer), with a note: words such as guest or NULL always, 0 or -1 when it
    is the most frequent id by far (WooCommerce writes 0 for every guest checkout)."""
    placeholder = ids.isin(_NO_CUSTOMER_WRITTEN)  # the whole column is looked at once:
    zeros = ids.isin(_ZERO_IDS)  # cheap, where counting every id costs seconds at 10M lines
    if zeros.sum() >= max(20, 0.01 * len(ids)):  # a customer with 1 % of the lines, or guests
        counts = ids.value_counts()
        top = counts.index[0]
        if top in _ZERO_IDS and counts.iloc[0] >= 10 * counts.iloc[1:].median():
            placeholder |= ids.eq(top)
    if not placeholder.any():
        return ids
    found = ids[placeholder].value_counts()
    shown = ", ".join(f"'{value}' ({n:,})" for value, n in found.head(4).items())
    notes.append(
        f"{where}: {int(found.sum()):,} lines have no customer but a placeholder ({shown}), "
        "such as guest checkouts: they are dropped as missing_customer. If guests have an "
        "e-mail column, map it to count them: --map customer_id=<header>")
    return ids.mask(placeholder)


def _note_leading_zeros(ids: pd.Series, where: str, notes: list[str]) -> None:
    if not ids.str.startswith("0").any():  # the usual case, seen without the distinct ids
        return
    unique = pd.Series(ids.dropna().unique(), dtype="str")
    zeros = unique[unique.str.fullmatch(r"0+\d+")]
    if zeros.empty:
        return
    # Index lookup rather than Series.isin: isin on text builds a Python object per value.
    clashes = zeros[pd.Index(unique).get_indexer(zeros.str.lstrip("0")) >= 0]
    if len(clashes):
        notes.append(
            f"{where}: {len(clashes)} ids differ from others only by leading zeros "
            f"(e.g. {clashes.iloc[0]!r} and {clashes.iloc[0].lstrip('0')!r}); they are kept "
            "apart — check the export if they are the same"
        )


def _pseudonymise(ids: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The ids' hashes, and each hash's id as first written (a contact, by hash)."""
    codes, uniques = pd.factorize(ids.str.lower())
    hashed = [hashlib.blake2b(u.encode(), digest_size=8).hexdigest() for u in uniques]
    out = np.array([*hashed, None], dtype=object)[codes]  # code -1 (missing) -> None
    known = codes >= 0
    first = pd.Series(ids.to_numpy()[known]).groupby(codes[known], sort=True).first()
    contacts = pd.Series(first.to_numpy(), index=pd.Index(hashed, dtype="str",
                                                          name=CUSTOMER_ID),
                         name="contact", dtype="str")
    return pd.Series(out, index=ids.index, dtype="str"), contacts


# --- numbers ---------------------------------------------------------------------------

_NUMBER_FIX = "map another column with --map {canonical}=<header>, or fix these values"
# Currency signs and codes, spaces and apostrophes (thousands), percent signs.
_DECORATION = "[ \t\u00a0\u202f'’%€$£¥₹₩₽¢]|^[A-Za-z]{3}|[A-Za-z]{3}$"
# What is left around the number: a currency or its abbreviation before it (R$, Rs., S/,
# kr, ₺) or after it (zł, kr), any length.
_LEADING = r"^(?:[^0-9(+\-.,]+[./]?)+"
_TRAILING = r"[^0-9)\-]+$"
_MINUS_SIGNS = "[\u2212\u2013\ufe63\uff0d]"  # minus sign, en dash, small and wide hyphen-minus
_COMMA_DECIMAL = r",\d{1,2}$|,\d{4,}$|\.\d{3},"
_DOT_DECIMAL = r",\d{3}\.|\.\d{1,2}$"


def _to_float(values: pd.Series, canonical: str, where: str, notes: list[str]) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    text = _to_text(values)
    numbers = _plain_float(text)
    if numbers is None:
        numbers = _parse_formatted(text, where, notes)
    _check_bad(text, numbers, where, notes, _NUMBER_FIX.format(canonical=canonical))
    return numbers


def _plain_float(text: pd.Series) -> pd.Series | None:
    """Plain numbers through pyarrow's cast (ten times faster than to_numeric), else None."""
    try:
        numbers = pa.array(text.array, from_pandas=True).cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return pd.Series(numbers.to_numpy(zero_copy_only=False), index=text.index)


def _parse_formatted(text: pd.Series, where: str, notes: list[str]) -> pd.Series:
    """Numbers with currency signs, thousands separators, decimal commas or (negatives)."""
    plain = text.str.replace(_MINUS_SIGNS, "-", regex=True)  # a typeset minus: "−12,50"
    plain = plain.str.replace(_DECORATION, "", regex=True)
    plain = plain.str.replace(_LEADING, "", regex=True).str.replace(_TRAILING, "", regex=True)
    negative = (plain.str.startswith("(") & plain.str.endswith(")")).fillna(False)
    trailing_minus = plain.str.endswith("-").fillna(False)  # 12.50- (some ERP exports)
    negative |= trailing_minus
    plain = plain.str.strip("()").mask(trailing_minus, plain.str.rstrip("-"))
    comma = plain.str.contains(_COMMA_DECIMAL, regex=True).fillna(False)
    dot = plain.str.contains(_DOT_DECIMAL, regex=True).fillna(False)
    if comma.any() and not dot.any():
        plain = plain.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        notes.append(f"{where}: decimal commas read as in '1.234,56' = 1234.56")
    else:  # a decimal comma among decimal points is inconsistent: leave it unread
        plain = plain.mask(comma).str.replace(",", "", regex=False)
    numbers = pd.to_numeric(plain, errors="coerce").astype("float64")
    return numbers.mask(negative, -numbers)


def _check_bad(text: pd.Series, parsed: pd.Series, where: str, notes: list[str], fix: str) -> None:
    bad = text[parsed.isna() & text.notna()]
    if not len(bad):
        return
    present = int(text.notna().sum())
    examples = ", ".join(repr(v) for v in bad.drop_duplicates().head(3))
    if len(bad) > MAX_BAD_SHARE * present:
        raise DataError(
            f"{where}: {len(bad) / present:.0%} of the values cannot be read "
            f"(e.g. {examples}). Fix: {fix}."
        )
    notes.append(
        f"{where}: {len(bad)} values could not be read and are left missing (e.g. {examples})"
    )


# --- dates -----------------------------------------------------------------------------

_DATE_FIX = (
    "give the format with --date-format (e.g. --date-format '%d/%m/%Y %H:%M'), "
    "or map another column with --map order_date=<header>"
)


def _to_datetime(
    values: pd.Series, date_format: str | None, where: str, notes: list[str]
) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):  # the clock time in its own zone
        return values.dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values):
        return values
    if pd.api.types.is_numeric_dtype(values):
        return _from_numbers(values, where, notes)
    text = _to_text(values)
    if text.isna().all():
        raise DataError(f"{where}: the column is empty. Fix: {_DATE_FIX}.")
    if not date_format and (iso := _iso_without_zone(text)) is not None:
        return iso
    codes, uniques = pd.factorize(text)
    unique = pd.Series(uniques, dtype="str")
    if not date_format and unique.str.fullmatch(r"\d{1,14}(?:\.\d+)?").all() \
            and not unique.str.fullmatch(r"\d{4}").all():  # years alone parse as dates
        return _from_numbers(pd.to_numeric(text), where, notes)
    if not date_format:
        unique = _plain_dates(unique)
    local = unique.str.replace(_UTC_OFFSET, r"\1", regex=True)
    if (not date_format or date_format.endswith("%z")) and (local != unique).any():
        if unique.str.contains(r"[+-](?!00:?00$)\d\d:?\d\d$").any():  # not UTC itself
            notes.append(f"{where}: times with a UTC offset kept at the local time they show "
                         "(2024-01-01 00:30:00+08:00 is 2024-01-01 00:30), so days, weeks and "
                         "months are the shop's, not UTC's")
        unique = local
        date_format = date_format and date_format.removesuffix("%z").rstrip()
    formats = [date_format] if date_format else _infer_formats(unique, where, notes)
    try:
        parsed = _parse_unique(unique, formats)
    except ValueError as exc:  # only a malformed --date-format gets here
        raise DataError(
            f"{where}: --date-format {date_format!r} is not a valid format ({exc}). "
            "Use strftime codes, e.g. --date-format '%d/%m/%Y %H:%M'."
        ) from None
    dates = pd.Series(parsed.to_numpy()[codes], index=text.index)
    dates[codes < 0] = pd.NaT
    _check_bad(text, dates, where, notes, _DATE_FIX)
    return dates


# A time's UTC offset at the end of a value (10:00:00Z, 10:00:00.5+08:00, 10:00 -0500); group
# 1 is the time without it.
_UTC_OFFSET = r"(:\d\d(?:\.\d+)?) ?(?:Z|[+-]\d\d:?\d\d)$"


def _iso_without_zone(text: pd.Series) -> pd.Series | None:
    """The dates when every one is ISO 8601 without a zone (2024-01-05, 2024-01-05 10:23:00,
    2024-01-05T10:23:00.5), else None.

    Arrow's cast reads them in one pass, where finding and parsing the distinct values took
    6 s for 10M lines of a shop's export; it gives what pandas' ISO parser gives, and it
    refuses the whole column at the first other value (a zone, a day that does not exist,
    nanoseconds), which then goes the general way.
    """
    try:
        parsed = pc.cast(pa.array(text), pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index)


def _plain_dates(unique: pd.Series) -> pd.Series:
    """Dates written in Chinese (2024年1月5日 10:00) or ending in UTC or GMT, as ISO."""
    if unique.str.contains("年", regex=False).any():
        unique = (unique.str.replace(r"(\d{4})年(\d{1,2})月(\d{1,2})日", r"\1-\2-\3", regex=True)
                  .str.replace(r"(\d{1,2})时(\d{1,2})分(?:(\d{1,2})秒)?", r"\1:\2:\3", regex=True)
                  .str.rstrip(":"))
    return unique.str.replace(r" ?(?:UTC|GMT)$", "", regex=True)  # naive times are UTC


def _not_dates(values: pd.Series, where: str) -> DataError:
    known = values.dropna()
    if len(known) and known.min() >= 0 and known.max() < 20_000 and (known % 1 == 0).all():
        # Dunnhumby's DAY, a week number: counts from the start of the data, not dates
        return DataError(
            f"{where}: numbers from {known.min():g} to {known.max():g}, which count days or "
            "weeks from the start of the data and give no calendar date. Fix: map a date "
            "column with --map order_date=<header>, or add one (the first day's date plus "
            "the number of days) and map it.")
    return DataError(f"{where}: numbers that are not dates (e.g. {str(values.iloc[0])!r}). "
                     "Fix: map the date column with --map order_date=<header>.")


def _from_excel_days(values: pd.Series, where: str, notes: list[str]) -> pd.Series:
    """Excel's serial day numbers (45296 = 2024-01-05), as a CSV export of a workbook has."""
    notes.append(f"{where}: dates read as Excel day numbers (45296 = 2024-01-05)")
    return pd.to_datetime(values, unit="D", origin="1899-12-30").dt.round("s")


def _from_numbers(values: pd.Series, where: str, notes: list[str]) -> pd.Series:
    """Dates written as numbers: 20240105 (a warehouse's date key), an Excel day number,
    or Unix time."""
    known = values.dropna()
    if len(known) and known.between(19_000_101, 21_001_231).all() and (known % 1 == 0).all():
        text = values.astype("Int64").astype("string")
        dates = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        _check_bad(text, dates, where, notes, _DATE_FIX)  # 20241305, a typo: left missing
        notes.append(f"{where}: dates read as numbers YYYYMMDD (20240105 = 2024-01-05)")
        return dates
    if len(known) and known.between(20_000, 80_000).all():  # 1954 to 2119
        return _from_excel_days(values, where, notes)
    return _from_epoch(values, where, notes)


def _from_epoch(values: pd.Series, where: str, notes: list[str]) -> pd.Series:
    biggest = values.abs().max()
    unit = "s" if biggest < 1e11 else "ms" if biggest < 1e14 else "us"
    if values.min() < 0 or biggest < 1e8:
        raise _not_dates(values, where)
    notes.append(f"{where}: dates read as Unix time in {unit}")
    return pd.to_datetime(values, unit=unit)


def _parse(values: pd.Series, fmt: str) -> pd.Series:
    parsed = pd.to_datetime(values, format=fmt, errors="coerce", utc=True)
    return parsed.dt.tz_convert(None)


def _parse_unique(unique: pd.Series, formats: list[str]) -> pd.Series:
    """Parse with the first format, then fill what is left with the next ones."""
    parsed = _parse(unique, formats[0])
    for fmt in formats[1:]:
        left = parsed.isna()
        if not left.any():
            break
        parsed[left] = _parse(unique[left], fmt)
    return parsed


def _infer_formats(unique: pd.Series, where: str, notes: list[str]) -> list[str]:
    """Candidate formats that parse a spread sample of values, best first."""
    step = max(1, len(unique) // _DATE_SAMPLE)
    sample = unique.iloc[::step]
    if _parse(sample, "ISO8601").notna().all():  # the common case, and unambiguous
        return ["ISO8601"]
    scores = {fmt: int(_parse(sample, fmt).notna().sum()) for fmt in DATE_FORMATS}
    ranked = [f for f in sorted(scores, key=scores.__getitem__, reverse=True) if scores[f]]
    if not ranked:
        return ["ISO8601"]
    best = ranked[0]
    if best in _DAY_FIRST + _MONTH_FIRST:
        best = _day_or_month_first(unique, ranked, scores, where, notes)
        excluded = _MONTH_FIRST if best in _DAY_FIRST else _DAY_FIRST
        ranked = [best] + [f for f in ranked if f != best and f not in excluded]
    return ranked


def _day_or_month_first(
    unique: pd.Series, ranked: list[str], scores: dict[str, int], where: str, notes: list[str]
) -> str:
    day = next((f for f in ranked if f in _DAY_FIRST), None)
    month = next((f for f in ranked if f in _MONTH_FIRST), None)
    if day is None or month is None or scores[day] != scores[month]:
        chosen = ranked[0]
        ambiguous = False
    else:  # the sample cannot tell: count on every distinct value
        day_ok = int(_parse(unique, day).notna().sum())
        month_ok = int(_parse(unique, month).notna().sum())
        chosen = month if month_ok > day_ok else day
        ambiguous = month_ok == day_ok
    order = "day-first" if chosen in _DAY_FIRST else "month-first (US)"
    pattern = re.sub(r"%([a-zA-Z])", lambda m: _PATTERN[m.group(1)], chosen)
    tail = "; every date fits both day-first and month-first" if ambiguous else ""
    notes.append(f"{where}: dates parsed as {order} {pattern}{tail}; use --date-format to override")
    return chosen


_PATTERN = {
    "d": "DD",
    "m": "MM",
    "Y": "YYYY",
    "y": "YY",
    "H": "hh",
    "I": "hh",
    "M": "mm",
    "S": "ss",
    "p": "AM/PM",
}
