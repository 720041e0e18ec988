"""The store point-of-sale database: ``store/pos.sqlite`` with customers, stores, orders, lines.

Loyalty members sign up in store (some twice, after losing a card); movers keep the address
they signed up with. Buyers are a mix of repeat, one-time, lapsed (nothing in the last year)
and new-this-month customers; about 15% of orders are guest checkouts (``customer_id`` NULL).
``updated_at`` is the incremental watermark: returns and profile edits move it forward.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from cdp.sample_data.noise import Noise
from cdp.sample_data.people import Population
from cdp.sample_data.vocab import CITIES, PRODUCTS, STORE_BRAND
from cdp.sample_data.writers import TimeFormatter, TruthWriter, epoch_seconds

SCHEMA = """
CREATE TABLE stores (
    store_id INTEGER PRIMARY KEY, store_name TEXT NOT NULL, city TEXT, state TEXT,
    opened_at TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY, loyalty_card_number TEXT UNIQUE, first_name TEXT, last_name TEXT,
    email TEXT, phone TEXT, birth_date TEXT, street TEXT, city TEXT, postcode TEXT, state TEXT, country TEXT,
    is_marketing_opt_in INTEGER NOT NULL CHECK (is_marketing_opt_in IN (0, 1)),
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (customer_id),
    store_id INTEGER NOT NULL REFERENCES stores (store_id), ordered_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed', 'returned', 'cancelled')),
    total_amount NUMERIC NOT NULL, currency TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE order_lines (
    order_line_id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders (order_id),
    product_sku TEXT NOT NULL, product_name TEXT, category TEXT, quantity INTEGER NOT NULL,
    unit_price NUMERIC NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX customers_updated_at ON customers (updated_at);
CREATE INDEX stores_updated_at ON stores (updated_at);
CREATE INDEX orders_updated_at ON orders (updated_at);
CREATE INDEX orders_customer_id ON orders (customer_id);
CREATE INDEX order_lines_updated_at ON order_lines (updated_at);
CREATE INDEX order_lines_order_id ON order_lines (order_id);
"""
STORE_COUNT = 20
FIRST_CUSTOMER_ID = 100_001
FIRST_ORDER_ID = 5_000_001
GUEST_ORDER_SHARE = 0.15
DAY = 86_400
# Buyer types: (name, share). "lapsed" bought only more than a year ago; "new" joined this month.
BUYER_TYPES = (("repeat", 0.35), ("one_time", 0.33), ("lapsed", 0.18), ("new", 0.07), ("never", 0.07))


def write_store(out_dir: Path, population: Population, seed: int, run_date: date,
                truth: TruthWriter) -> dict[str, int]:
    """Write ``store/pos.sqlite`` (replacing any previous one) and the store truth rows; returns counts."""
    folder = out_dir / "store"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pos.sqlite"
    path.unlink(missing_ok=True)
    rng = random.Random(f"{seed}:store")
    end = epoch_seconds(run_date) + DAY
    fmt = TimeFormatter()
    con = sqlite3.connect(path)
    try:
        # The file is rebuilt from scratch each time, so durability settings buy nothing here.
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.executescript(SCHEMA)
        stores = _stores(rng, fmt, end)
        con.executemany("INSERT INTO stores VALUES (?, ?, ?, ?, ?, ?)", stores)
        customers, purchase_plans = _customers(rng, Noise(rng), fmt, population, end, truth)
        con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", customers)
        orders = _order_frame(rng, purchase_plans, end, len(stores), seed)
        order_count, line_count = _insert_orders(con, orders, fmt, end, seed)
        con.commit()
    finally:
        con.close()
    return {"store_customers": len(customers), "stores": len(stores), "orders": order_count,
            "order_lines": line_count}


def _stores(rng: random.Random, fmt: TimeFormatter, end: int) -> list[tuple[Any, ...]]:
    cities = rng.sample(range(len(CITIES)), STORE_COUNT)
    rows = []
    for store_id, city_index in enumerate(cities, start=1):
        city, state, _, _ = CITIES[city_index]
        opened = end - rng.randint(3 * 365, 15 * 365) * DAY
        updated = opened + rng.randint(0, (end - opened) // DAY - 1) * DAY if rng.random() < 0.3 else opened
        name = f"{STORE_BRAND} {city}" + (" Mall" if rng.random() < 0.2 else "")
        rows.append((store_id, name, city, state, fmt.sql(opened), fmt.sql(updated)))
    return rows


def _customers(rng: random.Random, noise: Noise, fmt: TimeFormatter, people: Population, end: int,
               truth: TruthWriter) -> tuple[list[tuple[Any, ...]], list[tuple[int, str, int]]]:
    """Customer rows in customer_id order and, per customer, (customer_id, buyer type, created_at)."""
    drafts = []
    type_names = [name for name, _ in BUYER_TYPES]
    type_weights = [share for _, share in BUYER_TYPES]
    for i in people.in_source["store"].nonzero()[0].tolist():
        for copy in range(2 if rng.random() < 0.04 else 1):
            buyer = rng.choices(type_names, type_weights)[0] if copy == 0 else "one_time"
            if buyer == "new":
                created = end - rng.randint(1, 29 * DAY)
            elif buyer == "lapsed":
                created = end - rng.randint(400 * DAY, 6 * 365 * DAY)
            else:
                created = end - rng.randint(60 * DAY, 6 * 365 * DAY)
            drafts.append((created, i, buyer))
    drafts.sort()
    rows, plans = [], []
    cards: set[str] = set()
    for offset, (created, i, buyer) in enumerate(drafts):
        customer_id = FIRST_CUSTOMER_ID + offset
        rows.append(_customer_row(rng, noise, fmt, people, i, customer_id, created, end, cards))
        plans.append((customer_id, buyer, created))
        truth.add("store", str(customer_id), people.person_id[i])
    return rows, plans


def _customer_row(rng: random.Random, noise: Noise, fmt: TimeFormatter, people: Population, i: int,
                  customer_id: int, created: int, end: int, cards: set[str]) -> tuple[Any, ...]:
    def missing() -> str | None:
        return "" if rng.random() < 0.2 else None  # POS clerks leave blanks; the database keeps NULLs

    card = None
    if rng.random() < 0.9:
        card = f"6045{rng.randrange(10**12):012d}"
        while card in cards:
            card = f"6045{rng.randrange(10**12):012d}"
        cards.add(card)
    first = noise.placeholder_text(noise.first_name(people.first_name[i], accent=0.2))
    last = noise.last_name(people.last_name[i], accent=0.2)
    if noise.chance(0.01):
        first, last = last, first
    email = noise.email(people.email[i]) if rng.random() < 0.75 else missing()
    phone_digits = people.landline[i] if people.landline[i] and rng.random() < 0.3 else people.mobile[i]
    phone = noise.phone(phone_digits) if rng.random() < 0.85 else missing()
    birth = people.birth_date[i] if rng.random() < 0.6 else None
    # Movers signed up at the old address and rarely tell the store.
    address = people.previous_address[i] if people.previous_address[i] and rng.random() < 0.8 else people.address[i]
    street = noise.street(address.number, address.street_name, address.suffix_index, address.direction_index,
                          address.unit)
    country = rng.choices(("US", "USA", "United States", None), (80, 10, 5, 5))[0]
    updated = created if rng.random() < 0.6 else rng.randint(created, end - 1)
    return (customer_id, card, first, last, email, phone, birth, street,
            noise.placeholder_text(address.city, 0.003), noise.postcode(address.zip_code), address.state, country,
            int(rng.random() < 0.55), fmt.sql(created), fmt.sql(updated))


def _order_frame(rng: random.Random, plans: list[tuple[int, str, int]], end: int, store_count: int,
                 seed: int) -> dict[str, np.ndarray]:
    """Order times per customer following their buyer type, plus guest orders; sorted by time."""
    two_years = end - 730 * DAY
    year = end - 365 * DAY
    customer_ids: list[int] = []
    times: list[int] = []
    home_store: dict[int, int] = {}
    for customer_id, buyer, created in plans:
        if buyer == "never":
            continue
        home_store[customer_id] = rng.randint(1, store_count)
        low = max(created, two_years)
        if buyer == "repeat":
            count, high = rng.randint(3, 18), end
        elif buyer == "one_time":
            count, high = 1, end
        elif buyer == "lapsed":
            low, count, high = max(created, two_years), rng.randint(1, 5), year
        else:
            count, high = rng.randint(1, 2), end
        low = min(low, high - DAY)
        for _ in range(count):
            customer_ids.append(customer_id)
            times.append(rng.randrange(low, high))
    np_rng = np.random.default_rng([seed, 4])
    customer = np.array(customer_ids, dtype=np.int64)
    guests = int(len(customer) * GUEST_ORDER_SHARE / (1 - GUEST_ORDER_SHARE))
    customer = np.concatenate([customer, np.full(guests, -1, dtype=np.int64)])
    when = np.concatenate([np.array(times, dtype=np.int64), np_rng.integers(two_years, end, guests)])
    # Shops are open roughly 9am-9pm Eastern: move each order into 13:00-23:59 UTC of its day.
    when = when // DAY * DAY + np_rng.integers(13 * 3600, DAY, len(when))
    when = np.minimum(when, end - 1)
    store = np.array([home_store.get(int(c), 0) for c in customer], dtype=np.int64)
    wandering = (store == 0) | (np_rng.random(len(store)) < 0.2)
    store[wandering] = np_rng.integers(1, store_count + 1, int(wandering.sum()))
    order = np.argsort(when, kind="stable")
    return {"customer": customer[order], "when": when[order], "store": store[order]}


def _insert_orders(con: sqlite3.Connection, orders: dict[str, np.ndarray], fmt: TimeFormatter, end: int,
                   seed: int) -> tuple[int, int]:
    rng = np.random.default_rng([seed, 5])
    n = len(orders["when"])
    status = rng.choice(3, n, p=[0.93, 0.05, 0.02])  # completed, returned, cancelled
    later = orders["when"] + rng.integers(3 * DAY, 30 * DAY, n)
    updated = np.where((status == 1) & (later < end), later, orders["when"] + rng.integers(60, 900, n))
    updated = np.minimum(updated, end - 1)
    status = np.where((status == 1) & (later >= end), 0, status)  # too recent to have been returned yet
    lines_per_order = rng.choice([1, 2, 3, 4], n, p=[0.5, 0.3, 0.15, 0.05])
    line_order = np.repeat(np.arange(n), lines_per_order)
    product = rng.integers(0, len(PRODUCTS), len(line_order))
    quantity = rng.choice([1, 2, 3], len(line_order), p=[0.75, 0.2, 0.05])
    prices = np.array([p[3] for p in PRODUCTS])[product]
    prices = np.where(rng.random(len(line_order)) < 0.1, np.round(prices * 0.8, 2), prices)
    totals = np.round(np.bincount(line_order, weights=prices * quantity, minlength=n), 2)
    status_names = ("completed", "returned", "cancelled")
    order_ids = FIRST_ORDER_ID + np.arange(n)
    updated_text = [fmt.sql(int(u)) for u in updated]
    con.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ((int(order_ids[k]), None if orders["customer"][k] < 0 else int(orders["customer"][k]),
          int(orders["store"][k]), fmt.sql(int(orders["when"][k])), status_names[status[k]], float(totals[k]), "USD",
          updated_text[k]) for k in range(n)),
    )
    con.executemany(
        "INSERT INTO order_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ((j + 1, int(order_ids[line_order[j]]), PRODUCTS[product[j]][0], PRODUCTS[product[j]][1],
          PRODUCTS[product[j]][2], int(quantity[j]), float(prices[j]), updated_text[line_order[j]])
         for j in range(len(line_order))),
    )
    return n, len(line_order)
