"""A synthetic online shop with a known ground truth, for demos, tests and benchmarks.

`generate_sample_shop` simulates an order log (one row per order line) of a mid-sized
European online shop, together with the latent truth behind it: each customer's type,
acquisition time and churn date. Models can be checked against that truth.

What the simulation contains:

- a catalogue of 330 products in 8 categories with different price levels and a Zipf-like
  popularity inside each category;
- five customer types (`DEFAULT_CUSTOMER_TYPES`: loyal, occasional, bargain_hunter,
  big_spender, one_time) with their own purchase rate, regularity, basket size, lifetime,
  coupon propensity, channel mix and price taste;
- acquisition that grows by 3% a month, so every month brings a new cohort;
- a latent lifetime per customer: after its churn date a customer never orders again;
- seasonality (summer dip, Q4 peak) and a weekday and time-of-day pattern;
- per-customer category preferences and three favourite products that get re-bought;
- welcome coupons on first orders and type-dependent coupon use afterwards;
- dirt for the cleaning report: about 1% return lines (negative quantity, order id prefixed
  "C", for a product the customer bought), 1% guest-checkout lines without a customer id
  and 0.2% exact duplicate lines.

The period runs from `start` (inclusive) to `start + months` calendar months (exclusive):
that end is the `end_of_period` against which `truth.churned` is defined. Repeat orders and
returns of a customer fall strictly between its acquisition and the earlier of its churn
date and the end of the period.

The bundled files `analytics/data/sample_shop.csv.gz` and `sample_shop_truth.csv.gz` hold
the default shop (5,000 customers, 24 months, seed 7, start 2024-01-01, so the end of the
period is 2026-01-01; about 59,000 lines in 30,000 orders). Regenerate them with

    python -m analytics.sample

(`python -m analytics.sample --help` lists options to write other shops elsewhere).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.extensions import ExtensionArray

from analytics.errors import DataError
from analytics.schema import (
    AMOUNT,
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
    UNIT_PRICE,
)

__all__ = [
    "DEFAULT_CATEGORIES",
    "DEFAULT_CUSTOMER_TYPES",
    "SAMPLE_SHOP_PATH",
    "SAMPLE_TRUTH_PATH",
    "Category",
    "CustomerType",
    "generate_sample_shop",
    "load_sample_truth",
    "write_sample_shop",
]

SAMPLE_SHOP_PATH = Path(__file__).parent / "data" / "sample_shop.csv.gz"
SAMPLE_TRUTH_PATH = Path(__file__).parent / "data" / "sample_shop_truth.csv.gz"

DAYS_PER_MONTH = 365.25 / 12
ORDER_COLUMNS = (
    ORDER_ID,
    CUSTOMER_ID,
    ORDER_DATE,
    PRODUCT_ID,
    PRODUCT_NAME,
    CATEGORY,
    QUANTITY,
    UNIT_PRICE,
    DISCOUNT,
    AMOUNT,
    COUPON_CODE,
    CHANNEL,
    COUNTRY,
)
TRUTH_COLUMNS = (
    CUSTOMER_ID,
    "customer_type",
    "acquired_at",
    "churned",
    "churn_date",
    "purchase_rate",
)


@dataclass(frozen=True)
class CustomerType:
    """Behaviour of one kind of customer; rates are per month while the customer is alive."""

    name: str
    share: float  # of all customers
    orders_per_month: float  # mean repeat-purchase rate; 0 means the first order is the last
    rate_spread: float  # gamma shape of the rate across customers (higher: more alike)
    regularity: float  # gamma shape of the gaps between orders (1: Poisson, higher: regular)
    lifetime_months: float  # mean latent lifetime from the first order
    lifetime_shape: float  # Weibull shape of the lifetime
    basket_lines: float  # mean number of distinct products per order
    extra_quantity: float  # mean of (quantity - 1) per line
    coupon_rate: float  # chance a repeat order uses a coupon
    welcome_rate: float  # chance the first order uses the welcome coupon
    favourite_rate: float  # chance a line re-buys one of the customer's favourite products
    price_taste: float  # exponent on category price level in preferences (<0: cheap)
    channel_mix: tuple[float, float, float]  # web, app, marketplace


DEFAULT_CUSTOMER_TYPES: tuple[CustomerType, ...] = (
    CustomerType(
        "loyal", share=0.15, orders_per_month=2.0, rate_spread=10.0, regularity=4.0,
        lifetime_months=36.0, lifetime_shape=1.5, basket_lines=2.2, extra_quantity=0.3,
        coupon_rate=0.08, welcome_rate=0.25, favourite_rate=0.45, price_taste=0.0,
        channel_mix=(0.35, 0.55, 0.10),
    ),
    CustomerType(
        "occasional", share=0.30, orders_per_month=0.35, rate_spread=5.0, regularity=1.0,
        lifetime_months=24.0, lifetime_shape=1.5, basket_lines=1.8, extra_quantity=0.2,
        coupon_rate=0.10, welcome_rate=0.25, favourite_rate=0.20, price_taste=0.3,
        channel_mix=(0.55, 0.20, 0.25),
    ),
    CustomerType(
        "bargain_hunter", share=0.15, orders_per_month=1.0, rate_spread=5.0, regularity=1.5,
        lifetime_months=9.0, lifetime_shape=1.2, basket_lines=2.0, extra_quantity=0.5,
        coupon_rate=0.65, welcome_rate=0.80, favourite_rate=0.15, price_taste=-1.5,
        channel_mix=(0.45, 0.25, 0.30),
    ),
    CustomerType(
        "big_spender", share=0.10, orders_per_month=0.3, rate_spread=5.0, regularity=1.5,
        lifetime_months=20.0, lifetime_shape=1.3, basket_lines=4.0, extra_quantity=0.8,
        coupon_rate=0.03, welcome_rate=0.10, favourite_rate=0.15, price_taste=1.0,
        channel_mix=(0.60, 0.30, 0.10),
    ),
    CustomerType(
        # gone within days of the first order: about 1.5 days on average
        "one_time", share=0.30, orders_per_month=0.0, rate_spread=1.0, regularity=1.0,
        lifetime_months=0.05, lifetime_shape=2.0, basket_lines=1.3, extra_quantity=0.2,
        coupon_rate=0.0, welcome_rate=0.45, favourite_rate=0.0, price_taste=-0.5,
        channel_mix=(0.40, 0.10, 0.50),
    ),
)


@dataclass(frozen=True)
class Category:
    """A product category: size, typical price and how much of the demand it draws."""

    name: str
    products: int
    median_price: float
    demand_share: float
    adjectives: tuple[str, ...]  # with `nouns`, makes the product names
    nouns: tuple[str, ...]
    extra_quantity: float = 0.0  # added to the type's mean of (quantity - 1) per line


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("Grocery", 60, 4.5, 0.20,
             ("Organic", "Fresh", "Roasted", "Wholegrain", "Spicy", "Classic", "Premium",
              "Sweet"),
             ("Coffee Beans", "Green Tea", "Olive Oil", "Pasta", "Granola", "Honey",
              "Dark Chocolate", "Almonds"), extra_quantity=0.5),
    Category("Beauty", 45, 19.0, 0.14,
             ("Hydrating", "Gentle", "Matte", "Herbal", "Vitamin C", "Rose", "Charcoal",
              "Daily"),
             ("Face Cream", "Shampoo", "Lip Balm", "Serum", "Body Lotion", "Cleanser",
              "Sunscreen", "Hand Soap"), extra_quantity=0.2),
    Category("Books", 40, 14.0, 0.10,
             ("Silent", "Hidden", "Last", "Lost", "Golden", "Midnight", "Northern", "Little"),
             ("Garden", "Harbour", "Kingdom", "Letters", "Orchard", "Voyage", "Cookbook",
              "Atlas")),
    Category("Toys", 30, 24.0, 0.08,
             ("Wooden", "Magnetic", "Glow", "Mini", "Giant", "Rainbow", "Musical", "Deluxe"),
             ("Puzzle", "Building Blocks", "Train Set", "Plush Bear", "Kite", "Board Game",
              "Robot Kit", "Doll House")),
    Category("Home & Kitchen", 45, 35.0, 0.16,
             ("Ceramic", "Bamboo", "Stainless", "Linen", "Cast Iron", "Nordic", "Compact",
              "Glass"),
             ("Mug Set", "Frying Pan", "Cutting Board", "Table Lamp", "Storage Jar",
              "Cushion Cover", "Kettle", "Bath Towel")),
    Category("Fashion", 50, 42.0, 0.16,
             ("Slim", "Classic", "Striped", "Wool", "Denim", "Leather", "Summer", "Knitted"),
             ("T-Shirt", "Jeans", "Scarf", "Sneakers", "Jacket", "Belt", "Dress", "Hoodie")),
    Category("Sports & Outdoors", 30, 55.0, 0.09,
             ("Trail", "Pro", "Lightweight", "Waterproof", "Thermal", "Ultra", "Packable",
              "Team"),
             ("Running Shoes", "Yoga Mat", "Backpack", "Water Bottle", "Tent",
              "Cycling Gloves", "Dumbbell Set", "Rain Jacket")),
    Category("Electronics", 30, 160.0, 0.07,
             ("Wireless", "Smart", "Portable", "Noise-Cancelling", "Ultra HD", "Ergonomic",
              "Fast", "Mini"),
             ("Headphones", "Speaker", "Keyboard", "Mouse", "Webcam", "Charger", "Smartwatch",
              "Monitor")),
)

CHANNELS = ("web", "app", "marketplace")
COUNTRIES = ("Germany", "France", "United Kingdom", "Netherlands", "Spain", "Italy",
             "Poland", "Sweden")
COUNTRY_SHARES = (0.32, 0.16, 0.14, 0.10, 0.09, 0.08, 0.06, 0.05)
# Jan..Dec; mean 1, so a type's rate is its rate in an average month.
MONTH_FACTORS = (0.92, 0.85, 0.95, 0.97, 0.98, 0.88, 0.82, 0.85, 0.97, 1.05, 1.30, 1.46)
WEEKDAY_FACTORS = (1.05, 1.0, 1.0, 1.0, 0.95, 0.9, 1.1)  # Mon..Sun, mean 1
HOUR_WEIGHTS = (0.6, 0.3, 0.2, 0.15, 0.15, 0.2, 0.5, 1.0, 1.6, 2.0, 2.3, 2.6,
                3.0, 2.8, 2.6, 2.5, 2.6, 2.9, 3.3, 3.8, 4.2, 4.0, 3.0, 1.6)
# code -> share of the line value taken off
COUPONS = {"WELCOME10": 0.10, "SAVE10": 0.10, "FLASH25": 0.25, "SUMMER15": 0.15,
           "BLACKFRIDAY20": 0.20}
WELCOME_COUPON = "WELCOME10"
SEASONAL_COUPONS = {6: "SUMMER15", 7: "SUMMER15", 8: "SUMMER15", 11: "BLACKFRIDAY20"}
OTHER_COUPONS = {"SAVE10": 0.7, "FLASH25": 0.3}  # the rest of the year, with their odds
PREFERRED_CHANNEL_RATE = 0.85  # orders through the customer's usual channel
MONTHLY_GROWTH = 0.03  # acquisitions grow 3% a month
FAVOURITES = 3
PREFERENCE_CONCENTRATION = 1.5  # Dirichlet mass: low, so customers stick to few categories
RETURN_SHARE = 0.01  # of order lines
RETURN_DELAY_DAYS = 8.0  # mean days from purchase to return, after a first day
GUEST_SHARE = 0.01
DUPLICATE_SHARE = 0.002
MAX_LINES = 12
MAX_QUANTITY = 24
FIRST_ORDER_ID = 100001


@dataclass
class _Period:
    start: pd.Timestamp
    days: int
    season: np.ndarray  # demand multiplier per day
    warp: np.ndarray  # cumulative season at day boundaries, length days + 1
    month: np.ndarray  # calendar month (1..12) per day


@dataclass
class _Catalogue:
    product_id: list[str]
    name: list[str]
    category: np.ndarray  # category index per product
    price: np.ndarray
    popularity: np.ndarray  # Zipf-like inside each category


@dataclass
class _Customers:
    kind: np.ndarray  # index into the customer types
    rate: np.ndarray  # repeat orders per day of average seasonal demand
    regularity: np.ndarray  # gamma shape of the gaps between orders
    acquired: np.ndarray  # days since start, fractional
    churn: np.ndarray  # days since start, fractional
    preference: np.ndarray  # cumulative category preference, customers x categories
    favourites: np.ndarray  # product indices, customers x FAVOURITES
    channel: np.ndarray
    country: np.ndarray
    welcome: np.ndarray  # chance of the welcome coupon on the first order


@dataclass
class _Orders:
    cust: np.ndarray
    time: np.ndarray  # days since start, fractional
    first: np.ndarray  # the customer's first order


@dataclass
class _Lines:
    order: np.ndarray
    cust: np.ndarray
    product: np.ndarray
    quantity: np.ndarray


def generate_sample_shop(
    customers: int = 5000,
    months: int = 24,
    seed: int = 7,
    start: str = "2024-01-01",
    *,
    customer_types: Sequence[CustomerType] = DEFAULT_CUSTOMER_TYPES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a shop; return `(orders, truth)`, both deterministic for a seed.

    `orders` has one row per order line, sorted by `order_date`, with the canonical columns
    of `analytics.schema` but a status (returns are lines of their own). `truth` has one row
    per customer, sorted by `customer_id`:
    `customer_type`, `acquired_at` (its first order), `churned` (the latent churn date falls
    before the end of the period, `start + months`), `churn_date` (NaT when not churned)
    and `purchase_rate` (latent repeat orders per month while alive, before seasonality).
    """
    period = _period(start, months)
    types = _checked_types(customers, customer_types)
    rng = np.random.default_rng(seed)
    catalogue = _catalogue(rng)
    people = _customers(rng, customers, types, period, catalogue)
    orders = _orders(rng, people, period)
    people, orders = _with_guests(rng, people, orders, types, period, catalogue)
    lines = _lines(rng, people, orders, types, catalogue)
    rows = _rows(rng, customers, people, orders, lines, period)
    coupon = _coupons(rng, people, orders, types, period)
    channel = _order_channels(rng, people, orders)
    ids = _customer_ids(rng, customers)
    frame = _orders_frame(rows, ids, people, orders, lines, coupon, channel, catalogue, period)
    return frame, _truth(ids, people, customers, types, period)


def _period(start: str, months: int) -> _Period:
    if months < 1:
        raise DataError(f"months must be at least 1, got {months}.")
    try:
        first = pd.Timestamp(start).normalize()
    except ValueError as exc:
        raise DataError(f"start must be a date like '2024-01-01', got {start!r}.") from exc
    end = first + pd.DateOffset(months=months)
    dates = pd.date_range(first, end, freq="D", inclusive="left")
    season = (np.asarray(MONTH_FACTORS)[dates.month - 1]
              * np.asarray(WEEKDAY_FACTORS)[dates.day_of_week])
    warp = np.concatenate([[0.0], np.cumsum(season)])
    return _Period(first, len(dates), season, warp, np.asarray(dates.month))


def _checked_types(customers: int, types: Sequence[CustomerType]) -> tuple[CustomerType, ...]:
    if customers < 1:
        raise DataError(f"customers must be at least 1, got {customers}.")
    types = tuple(types)
    if not types or sum(t.share for t in types) <= 0:
        raise DataError("customer_types needs at least one type with a positive share.")
    return types


def _catalogue(rng: np.random.Generator) -> _Catalogue:
    names, category, price, popularity = [], [], [], []
    for index, cat in enumerate(DEFAULT_CATEGORIES):
        combos = [f"{a} {n}" for a in cat.adjectives for n in cat.nouns]
        names += [combos[i] for i in rng.choice(len(combos), cat.products, replace=False)]
        category.append(np.full(cat.products, index))
        raw = cat.median_price * rng.lognormal(0.0, 0.45, cat.products)
        # shop prices: 3.49 below ten, 39.99 above
        price.append(np.where(raw < 10, np.round(raw, 1) - 0.01, np.round(raw) - 0.01))
        popularity.append(1.0 / rng.permutation(np.arange(1, cat.products + 1)) ** 1.1)
    return _Catalogue(
        product_id=[f"P{i:04d}" for i in range(1, len(names) + 1)],
        name=names,
        category=np.concatenate(category),
        price=np.round(np.maximum(np.concatenate(price), 0.99), 2),
        popularity=np.concatenate(popularity),
    )


def _product_cdf(
    catalogue: _Catalogue, types: Sequence[CustomerType], flatten: float = 1.0
) -> np.ndarray:
    """Cumulative product choice per (type, category), stacked as type * C + category + cdf.

    A type's price taste tilts the choice towards cheaper or dearer products of a category;
    `flatten` < 1 makes popular products less dominant.
    """
    categories = len(DEFAULT_CATEGORIES)
    median = np.asarray([c.median_price for c in DEFAULT_CATEGORIES])[catalogue.category]
    relative = catalogue.price / median
    blocks = []
    for kind, kind_type in enumerate(types):
        weight = catalogue.popularity**flatten * relative**kind_type.price_taste
        for index in range(categories):
            inside = weight[catalogue.category == index]
            cdf = kind * categories + index + np.cumsum(inside) / inside.sum()
            cdf[-1] = kind * categories + index + 1  # exact: a draw below it stays inside
            blocks.append(cdf)
    return np.concatenate(blocks)


def _type_table(types: Sequence[CustomerType], field: str) -> np.ndarray:
    return np.asarray([getattr(t, field) for t in types], dtype=float)


def _customers(
    rng: np.random.Generator,
    n: int,
    types: Sequence[CustomerType],
    period: _Period,
    catalogue: _Catalogue,
    kind: np.ndarray | None = None,
) -> _Customers:
    if kind is None:
        shares = _type_table(types, "share")
        kind = rng.choice(len(types), size=n, p=shares / shares.sum())
    acquired = _acquisition_times(rng, n, period)
    spread = _type_table(types, "rate_spread")[kind]
    rate = (_type_table(types, "orders_per_month")[kind] / DAYS_PER_MONTH
            * rng.gamma(spread, 1.0 / spread))
    # Weibull scale that gives each type its mean lifetime
    scale = [t.lifetime_months * DAYS_PER_MONTH / math.gamma(1 + 1 / t.lifetime_shape)
             for t in types]
    churn = acquired + np.asarray(scale)[kind] * rng.weibull(
        _type_table(types, "lifetime_shape")[kind]
    )
    preference = _preferences(rng, kind, types)
    mix = np.asarray([t.channel_mix for t in types], dtype=float)
    mix = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    return _Customers(
        kind=kind,
        rate=rate,
        regularity=_type_table(types, "regularity")[kind],
        acquired=acquired,
        churn=churn,
        preference=preference,
        favourites=_favourites(rng, kind, preference, catalogue, types),
        channel=_pick_rows(rng, mix, kind),
        country=rng.choice(len(COUNTRIES), size=n, p=np.asarray(COUNTRY_SHARES)),
        welcome=_type_table(types, "welcome_rate")[kind],
    )


def _acquisition_times(rng: np.random.Generator, n: int, period: _Period) -> np.ndarray:
    day = np.arange(period.days)
    weight = period.season * (1 + MONTHLY_GROWTH) ** (day / DAYS_PER_MONTH)
    days = _draw(rng, np.cumsum(weight) / weight.sum(), n)
    return days + _time_of_day(rng, n)


def _draw(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    """Draw n indices from a cumulative distribution ending at 1."""
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    weights = np.asarray(HOUR_WEIGHTS)
    hour = _draw(rng, np.cumsum(weights) / weights.sum(), n)
    return (hour + rng.random(n)) / 24.0


def _preferences(
    rng: np.random.Generator, kind: np.ndarray, types: Sequence[CustomerType]
) -> np.ndarray:
    demand = np.asarray([c.demand_share for c in DEFAULT_CATEGORIES])
    level = np.asarray([c.median_price for c in DEFAULT_CATEGORIES])
    level = level / np.exp(np.log(level).mean())
    tilted = demand[None, :] * level[None, :] ** _type_table(types, "price_taste")[:, None]
    alpha = PREFERENCE_CONCENTRATION * tilted / tilted.sum(axis=1, keepdims=True)
    draws = np.maximum(rng.gamma(alpha[kind]), 1e-300)  # a Dirichlet draw per customer
    return np.cumsum(draws / draws.sum(axis=1, keepdims=True), axis=1)


def _pick_rows(rng: np.random.Generator, cumulative: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw a column for each of `rows` from row-wise cumulative probabilities."""
    u = rng.random(len(rows))
    picked = np.zeros(len(rows), dtype=np.int64)
    for column in range(cumulative.shape[1] - 1):  # columns, not rows: stays vectorised
        picked += u >= cumulative[rows, column]
    return picked


def _pick_products(
    rng: np.random.Generator, kind: np.ndarray, category: np.ndarray, cdf: np.ndarray
) -> np.ndarray:
    """Draw a product per (customer type, category) pair from a `_product_cdf` table."""
    categories = len(DEFAULT_CATEGORIES)
    position = np.searchsorted(
        cdf, kind * categories + category + rng.random(len(category)), side="right"
    )
    products = len(cdf) // (round(cdf[-1]) // categories)  # the table has a block per type
    return position - kind * products


def _favourites(
    rng: np.random.Generator,
    kind: np.ndarray,
    preference: np.ndarray,
    catalogue: _Catalogue,
    types: Sequence[CustomerType],
) -> np.ndarray:
    """FAVOURITES products per customer, from its categories, less skewed to bestsellers."""
    cdf = _product_cdf(catalogue, types, flatten=0.5)
    everyone = np.arange(len(kind))
    picks = [
        _pick_products(rng, kind, _pick_rows(rng, preference, everyone), cdf)
        for _ in range(FAVOURITES)
    ]
    return np.stack(picks, axis=1)


def _orders(rng: np.random.Generator, people: _Customers, period: _Period) -> _Orders:
    """First order at acquisition, repeats as a renewal process in seasonal time."""
    grid = np.arange(period.days + 1)
    limit = np.minimum(people.churn, period.days)
    owner, warped = _renewal_events(
        rng,
        np.interp(people.acquired, grid, period.warp),
        np.interp(limit, grid, period.warp),
        people.rate,
        people.regularity,
    )
    raw = np.interp(warped, period.warp, grid)
    timed = np.floor(raw) + _time_of_day(rng, len(raw))
    inside = (timed > people.acquired[owner]) & (timed < limit[owner])
    repeat = np.where(inside, timed, raw)
    # guard against rounding at the ends of the window
    repeat = np.clip(repeat, people.acquired[owner], np.nextafter(limit[owner], -np.inf))
    n = len(people.kind)
    return _Orders(
        cust=np.concatenate([np.arange(n), owner]),
        time=np.concatenate([people.acquired, repeat]),
        first=np.concatenate([np.ones(n, dtype=bool), np.zeros(len(owner), dtype=bool)]),
    )


def _renewal_events(
    rng: np.random.Generator,
    begin: np.ndarray,
    end: np.ndarray,
    rate: np.ndarray,
    shape: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Events strictly inside (begin, end) of a gamma renewal process per customer.

    Gaps are Gamma(shape, 1 / (rate * shape)), so their mean is 1 / rate. Draws a generous
    batch of gaps for every unfinished customer at once and repeats for the few whose batch
    did not reach `end`.
    """
    owners, times = [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    current = begin.astype(float)
    active = np.flatnonzero((rate > 0) & (end > begin))
    while len(active):
        expected = rate[active] * (end[active] - current[active])
        draws = np.ceil(expected + 3 * np.sqrt(expected) + 2).astype(np.int64)
        owner = np.repeat(active, draws)
        gaps = rng.gamma(shape[owner], 1.0 / (rate[owner] * shape[owner]))
        total = np.cumsum(gaps)
        firsts = np.cumsum(draws) - draws
        event = current[owner] + total - np.repeat(total[firsts] - gaps[firsts], draws)
        keep = event < end[owner]
        owners.append(owner[keep])
        times.append(event[keep])
        current[active] = event[firsts + draws - 1]
        active = active[current[active] < end[active]]
    return np.concatenate(owners), np.concatenate(times)


def _with_guests(
    rng: np.random.Generator,
    people: _Customers,
    orders: _Orders,
    types: Sequence[CustomerType],
    period: _Period,
    catalogue: _Catalogue,
) -> tuple[_Customers, _Orders]:
    """Append guest checkouts: one-order pseudo-customers whose id will be missing."""
    kind = int(np.argmin(_type_table(types, "orders_per_month")))
    basket = _type_table(types, "basket_lines")
    expected_lines = basket[people.kind[orders.cust]].sum()
    count = round(GUEST_SHARE / (1 - GUEST_SHARE) * expected_lines / basket[kind])
    guests = _customers(rng, count, types, period, catalogue, np.full(count, kind))
    guests.rate[:] = 0.0
    guests.churn = guests.acquired.copy()
    guests.welcome[:] = 0.0
    n = len(people.kind)
    merged = _Customers(**{
        field.name: np.concatenate([getattr(people, field.name), getattr(guests, field.name)])
        for field in dataclasses.fields(people)
    })
    return merged, _Orders(
        cust=np.concatenate([orders.cust, n + np.arange(count)]),
        time=np.concatenate([orders.time, guests.acquired]),
        first=np.concatenate([orders.first, np.ones(count, dtype=bool)]),
    )


def _lines(
    rng: np.random.Generator,
    people: _Customers,
    orders: _Orders,
    types: Sequence[CustomerType],
    catalogue: _Catalogue,
) -> _Lines:
    basket = _type_table(types, "basket_lines")[people.kind[orders.cust]]
    count = 1 + np.minimum(rng.poisson(np.maximum(basket - 1, 0)), MAX_LINES - 1)
    order = np.repeat(np.arange(len(orders.cust)), count)
    cust = orders.cust[order]
    kind = people.kind[cust]
    category = _pick_rows(rng, people.preference, cust)
    product = _pick_products(rng, kind, category, _product_cdf(catalogue, types))
    rebuy = rng.random(len(order)) < _type_table(types, "favourite_rate")[kind]
    slot = rng.integers(0, FAVOURITES, rebuy.sum())
    product[rebuy] = people.favourites[cust[rebuy], slot]
    # one line per product in an order, so duplicate lines are only the dirt added later
    keep = _first_occurrences(order * len(catalogue.price) + product)
    order, cust, product, kind = order[keep], cust[keep], product[keep], kind[keep]
    category_extra = np.asarray([c.extra_quantity for c in DEFAULT_CATEGORIES])
    extra = (_type_table(types, "extra_quantity")[kind]
             + category_extra[catalogue.category[product]])
    quantity = 1 + np.minimum(rng.poisson(extra), MAX_QUANTITY - 1)
    return _Lines(order=order, cust=cust, product=product, quantity=quantity)


def _first_occurrences(key: np.ndarray) -> np.ndarray:
    ordered = np.argsort(key, kind="stable")
    repeated = np.zeros(len(key), dtype=bool)
    repeated[ordered[1:]] = key[ordered[1:]] == key[ordered[:-1]]
    return ~repeated


def _coupons(
    rng: np.random.Generator,
    people: _Customers,
    orders: _Orders,
    types: Sequence[CustomerType],
    period: _Period,
) -> np.ndarray:
    """Coupon per order as an index into COUPONS, -1 for none."""
    codes = list(COUPONS)
    n = len(orders.cust)
    month = period.month[np.minimum(orders.time.astype(np.int64), period.days - 1)]
    other = np.asarray([codes.index(c) for c in OTHER_COUPONS])
    odds = np.asarray(list(OTHER_COUPONS.values()))
    seasonal = other[_draw(rng, np.cumsum(odds) / odds.sum(), n)]
    for calendar_month, code in SEASONAL_COUPONS.items():
        seasonal[month == calendar_month] = codes.index(code)
    repeat_use = rng.random(n) < _type_table(types, "coupon_rate")[people.kind[orders.cust]]
    welcome_use = rng.random(n) < people.welcome[orders.cust]
    return np.where(
        orders.first,
        np.where(welcome_use, codes.index(WELCOME_COUPON), -1),
        np.where(repeat_use, seasonal, -1),
    )


def _rows(
    rng: np.random.Generator,
    customers: int,
    people: _Customers,
    orders: _Orders,
    lines: _Lines,
    period: _Period,
) -> dict[str, np.ndarray]:
    """Rows of the log as line index, quantity, time and return flag, sorted by time.

    Sales lines come first, then returns of some of them, then exact copies of a few rows.
    """
    picked = _returned_lines(rng, customers, lines)
    limit = np.minimum(people.churn, period.days)[lines.cust[picked]]
    delay = 1 + rng.exponential(RETURN_DELAY_DAYS, len(orders.cust))[lines.order[picked]]
    bought = orders.time[lines.order[picked]]
    rows = {
        "line": np.concatenate([np.arange(len(lines.order)), picked]),
        "quantity": np.concatenate(
            [lines.quantity, -rng.integers(1, lines.quantity[picked] + 1)]
        ),
        "time": np.concatenate(
            [orders.time[lines.order], bought + np.minimum(delay, 0.5 * (limit - bought))]
        ),
        "is_return": np.arange(len(lines.order) + len(picked)) >= len(lines.order),
    }
    total = len(rows["line"])
    copies = rng.choice(total, size=round(DUPLICATE_SHARE * total), replace=False)
    rows = {key: np.concatenate([value, value[copies]]) for key, value in rows.items()}
    rows["seconds"] = np.floor(rows.pop("time") * 86400).astype(np.int64)
    order = np.argsort(rows["seconds"], kind="stable")
    return {key: value[order] for key, value in rows.items()}


def _money(
    quantity: np.ndarray, price: np.ndarray, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Discount and amount of lines; a return refunds its share of the discount."""
    discount = np.round(quantity * price * rate, 2)
    return discount, np.round(quantity * price - discount, 2)


def _returned_lines(rng: np.random.Generator, customers: int, lines: _Lines) -> np.ndarray:
    """Lines of registered customers that come back, about RETURN_SHARE of all lines."""
    candidates = np.flatnonzero(lines.cust < customers)
    count = min(round(RETURN_SHARE * len(lines.order)), len(candidates))
    return np.sort(rng.choice(candidates, size=count, replace=False))


def _customer_ids(rng: np.random.Generator, customers: int) -> pa.Array:
    """Zero-padded ids in random order, so that ids carry no meaning but leading zeros."""
    width = max(6, len(str(customers)))
    numbers = pa.array(rng.permutation(customers) + 1)
    return pc.utf8_lpad(pc.cast(numbers, pa.large_string()), width=width, padding="0")


def _labels(dictionary: Sequence[str] | pa.Array, index: np.ndarray) -> ExtensionArray:
    """Strings `dictionary[index]`, missing where index is negative or past the end."""
    missing = (index < 0) | (index >= len(dictionary))
    positions = pa.array(np.where(missing, 0, index).astype(np.int32), mask=missing)
    # large_string is what pandas' str dtype holds, so no conversion follows
    return pd.array(pc.take(pa.array(dictionary, pa.large_string()), positions), dtype="str")


def _timestamps(start: pd.Timestamp, seconds: np.ndarray) -> np.ndarray:
    return (np.datetime64(start.to_datetime64(), "s") + seconds).astype("datetime64[us]")


def _orders_frame(
    rows: dict[str, np.ndarray],
    ids: pa.Array,
    people: _Customers,
    orders: _Orders,
    lines: _Lines,
    order_coupon: np.ndarray,
    order_channel: np.ndarray,
    catalogue: _Catalogue,
    period: _Period,
) -> pd.DataFrame:
    order = lines.order[rows["line"]]
    cust = lines.cust[rows["line"]]
    product = lines.product[rows["line"]]
    coupon = order_coupon[order]
    price = catalogue.price[product]
    rate = np.append(np.asarray(list(COUPONS.values())), 0.0)[coupon]
    discount, amount = _money(rows["quantity"], price, rate)
    return pd.DataFrame({
        ORDER_ID: _order_ids(orders, order, rows["is_return"]),
        CUSTOMER_ID: _labels(ids, cust),
        ORDER_DATE: _timestamps(period.start, rows["seconds"]),
        PRODUCT_ID: _labels(catalogue.product_id, product),
        PRODUCT_NAME: _labels(catalogue.name, product),
        CATEGORY: _labels([c.name for c in DEFAULT_CATEGORIES], catalogue.category[product]),
        QUANTITY: rows["quantity"].astype(np.int64),
        UNIT_PRICE: price,
        DISCOUNT: discount,
        AMOUNT: amount,
        COUPON_CODE: _labels(list(COUPONS), coupon),
        CHANNEL: _labels(CHANNELS, order_channel[order]),
        COUNTRY: _labels(COUNTRIES, people.country[cust]),
    })


def _order_ids(orders: _Orders, order: np.ndarray, is_return: np.ndarray) -> ExtensionArray:
    """Numbers increasing with time from FIRST_ORDER_ID; a return is "C" + its order's id."""
    numbers = np.empty(len(orders.cust), dtype=np.int64)
    by_time = np.argsort(np.floor(orders.time * 86400), kind="stable")
    numbers[by_time] = FIRST_ORDER_ID + np.arange(len(orders.cust))
    plain = pc.cast(pa.array(numbers[order]), pa.large_string())
    ids = pc.if_else(pa.array(is_return), pc.binary_join_element_wise(
        pa.scalar("C", pa.large_string()), plain, pa.scalar("", pa.large_string())
    ), plain)
    return pd.array(ids, dtype="str")


def _order_channels(
    rng: np.random.Generator, people: _Customers, orders: _Orders
) -> np.ndarray:
    n = len(orders.cust)
    usual = rng.random(n) < PREFERRED_CHANNEL_RATE
    return np.where(usual, people.channel[orders.cust], rng.integers(0, len(CHANNELS), n))


def _truth(
    ids: pa.Array,
    people: _Customers,
    customers: int,
    types: Sequence[CustomerType],
    period: _Period,
) -> pd.DataFrame:
    real = slice(0, customers)
    churned = people.churn[real] < period.days
    churn_seconds = np.floor(np.where(churned, people.churn[real], 0.0) * 86400)
    churn_date = _timestamps(period.start, churn_seconds.astype(np.int64))
    truth = pd.DataFrame({
        CUSTOMER_ID: _labels(ids, np.arange(customers)),
        "customer_type": _labels([t.name for t in types], people.kind[real]),
        "acquired_at": _timestamps(
            period.start, np.floor(people.acquired[real] * 86400).astype(np.int64)
        ),
        "churned": churned,
        "churn_date": np.where(churned, churn_date, np.datetime64("NaT", "us")),
        "purchase_rate": np.round(people.rate[real] * DAYS_PER_MONTH, 4),
    })
    return truth.sort_values(CUSTOMER_ID, ignore_index=True)


def write_sample_shop(
    path: str | Path,
    customers: int = 5000,
    months: int = 24,
    seed: int = 7,
    start: str = "2024-01-01",
) -> tuple[Path, Path]:
    """Generate a shop and write it; return `(orders_path, truth_path)`.

    The orders go to `path` as `.csv`, `.csv.gz` or `.parquet`; the truth goes beside it as
    `<name>_truth.csv` (`.csv.gz` when the orders are gzipped).
    """
    path = Path(path)
    suffix, compression = _output_format(path)
    stem = path.name[: -len(suffix)]
    truth_path = path.with_name(f"{stem}_truth.csv" + (".gz" if compression else ""))
    orders, truth = generate_sample_shop(customers, months, seed, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        orders.to_parquet(path, index=False)
    else:
        orders.to_csv(path, index=False, compression=compression)
    truth.to_csv(truth_path, index=False, compression=compression)
    return path, truth_path


def _output_format(path: Path) -> tuple[str, dict[str, object] | None]:
    name = path.name.lower()
    if name.endswith(".csv.gz"):
        # mtime 0: the same shop gives the same bytes, so regenerating shows no git diff
        return ".csv.gz", {"method": "gzip", "mtime": 0}
    for suffix in (".csv", ".parquet"):
        if name.endswith(suffix):
            return suffix, None
    raise DataError(
        f"Cannot write the sample shop to {path}: unsupported extension. "
        "Use a name ending in .csv, .csv.gz or .parquet."
    )


def load_sample_truth(path: str | Path = SAMPLE_TRUTH_PATH) -> pd.DataFrame:
    """Read a truth file written by `write_sample_shop` (by default the bundled one)."""
    return pd.read_csv(
        path,
        dtype={CUSTOMER_ID: "str", "customer_type": "str", "churned": bool},
        parse_dates=["acquired_at", "churn_date"],
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Write a sample shop; with no arguments, regenerate the bundled default files."""
    parser = argparse.ArgumentParser(
        prog="python -m analytics.sample", description=main.__doc__
    )
    parser.add_argument("path", nargs="?", default=str(SAMPLE_SHOP_PATH),
                        help="orders file (.csv, .csv.gz or .parquet); default: the bundled one")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2024-01-01")
    args = parser.parse_args(argv)
    try:
        written = write_sample_shop(args.path, args.customers, args.months, args.seed,
                                    args.start)
    except DataError as exc:
        parser.exit(2, f"error: {exc}\n")
    print("wrote", *written)


if __name__ == "__main__":
    main()
