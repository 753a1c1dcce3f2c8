"""The data contract: canonical column names of a cleaned order log."""

__all__ = [
    "AMOUNT",
    "CANONICAL_COLUMNS",
    "CATEGORY",
    "CHANNEL",
    "COUNTRY",
    "COUPON_CODE",
    "CUSTOMER_ID",
    "DISCOUNT",
    "ORDER_DATE",
    "ORDER_ID",
    "PRODUCT_ID",
    "PRODUCT_NAME",
    "QUANTITY",
    "STATUS",
    "UNIT_PRICE",
]

CUSTOMER_ID = "customer_id"
ORDER_DATE = "order_date"
AMOUNT = "amount"
ORDER_ID = "order_id"
PRODUCT_ID = "product_id"
PRODUCT_NAME = "product_name"
CATEGORY = "category"
QUANTITY = "quantity"
UNIT_PRICE = "unit_price"
COUNTRY = "country"
CHANNEL = "channel"
COUPON_CODE = "coupon_code"
DISCOUNT = "discount"
STATUS = "status"  # of the order or line: a cancelled, refunded or failed one is dropped

CANONICAL_COLUMNS: tuple[str, ...] = (
    CUSTOMER_ID,
    ORDER_DATE,
    AMOUNT,
    ORDER_ID,
    PRODUCT_ID,
    PRODUCT_NAME,
    CATEGORY,
    QUANTITY,
    UNIT_PRICE,
    COUNTRY,
    CHANNEL,
    COUPON_CODE,
    DISCOUNT,
    STATUS,
)
