"""Realistic, reproducible purchase histories for the sandbox, with a matching company ledger.

:func:`generate_scenario` invents a company buying on Amazon Business for ``days`` days and
returns three views of the same events:

* the :class:`~connectors.sandbox.scenario.Scenario` the sandbox serves: what Amazon knows.
  Each order has one to five line items shipped in one to three shipments; every shipment is
  paid by one ``CHARGE`` transaction (so an order has several charges), some items are
  returned (``REFUND``, negative amounts, with a credit memo) and a few orders get an extra
  goodwill ``OVERREFUND``. Orders are paid with a company card (Visa, American Express,
  Mastercard), by invoice ("Pay by Invoice", no card digits) or by an employee on a personal
  card (the employee is buyer and payer);
* the company's general ledger (:class:`LedgerRow`): what the books say. It is deliberately
  imperfect, like real books: card-statement lines that carry only an amount, a date and a
  merchant code (``AMAZON MKTPL*2K4AB12C3``), lines that quote the order id or the invoice
  number, postings zero to five days after the transaction, one line for all the charges of
  an order, a few Amazon transactions never booked, purchases on personal cards mostly absent
  (only some come back as expense claims), lines of other vendors, and one of them with the
  same amount as an Amazon charge;
* the truth (:class:`TruthLink`): which ledger line records which Amazon transactions, for
  scoring a reconciliation.

Amounts are consistent: a line item's ``totalAmount = principalAmount + shippingCharge +
discount + tax`` where ``discount`` is negative on a charge (as in Amazon's own example) and
tax is charged on the discounted price plus shipping; a transaction's ``amount`` is the sum of
its line items' totals; a ledger line's amount is the transaction amount (or the sum of the
transactions it records), positive for money spent and negative for refunds.

Everything is drawn from ``random.Random(seed)`` and ``start`` defaults to a fixed date, so a
seed always gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from functools import partial
from pathlib import Path
from typing import Any

from connectors.amazon_business.regions import REGIONS, Region
from connectors.sandbox.pdf import format_amount, minor_units
from connectors.sandbox.scenario import Scenario, format_datetime

__all__ = [
    "DEFAULT_START",
    "LEDGER_HEADER",
    "TRUTH_HEADER",
    "LedgerRow",
    "TruthLink",
    "generate_scenario",
    "read_ledger_csv",
    "read_truth_csv",
    "write_ledger_csv",
    "write_scenario",
    "write_truth_csv",
]

#: The first day of generated histories unless ``start`` is given (never "today").
DEFAULT_START = date(2025, 1, 6)
#: Canonical ledger CSV columns.
LEDGER_HEADER: tuple[str, ...] = (
    "entry_id",
    "posted_date",
    "amount",
    "currency",
    "description",
    "reference",
    "card_last4",
)
#: Truth CSV columns: one row per (ledger line, Amazon transaction) link.
TRUTH_HEADER: tuple[str, ...] = ("ledger_entry_id", "transaction_id")


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One line of the company's books.

    ``amount`` is positive for money spent and negative for a refund or credit; ``reference``
    (an order id, an invoice number, or nothing) and ``card_last4`` may be empty.
    """

    entry_id: str
    posted_date: date
    amount: Decimal
    currency: str
    description: str
    reference: str
    card_last4: str


@dataclass(frozen=True, slots=True)
class TruthLink:
    """Ledger line ``entry_id`` records Amazon transaction ``transaction_id``."""

    entry_id: str
    transaction_id: str


# --------------------------------------------------------------------------------------------
# The invented world


@dataclass(frozen=True, slots=True)
class _Marketplace:
    country: str
    marketplace_id: str
    currency: str
    legal_entity: str
    tax_rates: tuple[str, ...]
    price_factor: Decimal  # catalog prices are in USD
    order_prefixes: tuple[str, ...]
    invoice_prefix: str  # "" -> North American XXXX-XXXX-XXXX numbers
    statement_prefix: str  # how the merchant shows on a card statement
    amazon_seller: str
    weight: int


_MARKETPLACES: dict[Region, tuple[_Marketplace, ...]] = {
    Region.NA: (
        _Marketplace(
            "US",
            "ATVPDKIKX0DER",
            "USD",
            "Northwind Traders Inc.",
            ("0.0625", "0.0725", "0.0800", "0.0825", "0.0887", "0.1025"),
            Decimal(1),
            ("111", "112", "113", "114"),
            "",
            "AMAZON MKTPL*",
            "Amazon.com Services LLC",
            1,
        ),
    ),
    Region.EU: (
        _Marketplace(
            "UK",
            "A1F83G8C2ARO7P",
            "GBP",
            "Northwind Trading Ltd",
            ("0.20",),
            Decimal("0.80"),
            ("202", "203", "204", "205", "206"),
            "GB",
            "AMZN Mktp UK*",
            "Amazon EU S.à r.l., UK Branch",
            4,
        ),
        _Marketplace(
            "DE",
            "A1PA6795UKMFR9",
            "EUR",
            "Northwind Handels GmbH",
            ("0.19",),
            Decimal("0.93"),
            ("302", "303", "304", "305", "306"),
            "DE",
            "AMZN Mktp DE*",
            "Amazon EU S.à r.l.",
            4,
        ),
        _Marketplace(
            "FR",
            "A13V1IB3VIYZZH",
            "EUR",
            "Northwind France SAS",
            ("0.20",),
            Decimal("0.93"),
            ("402", "403", "404", "405", "407"),
            "FR",
            "AMZN Mktp FR*",
            "Amazon EU S.à r.l.",
            2,
        ),
    ),
    Region.FE: (
        _Marketplace(
            "JP",
            "A1VC38T7YXB528",
            "JPY",
            "Northwind Japan K.K.",
            ("0.10",),
            Decimal(150),
            ("249", "250", "503"),
            "JP",
            "AMAZON CO JP*",
            "Amazon Japan G.K.",
            7,
        ),
        _Marketplace(
            "AU",
            "A39IBJ37TRP1C6",
            "AUD",
            "Northwind Traders Pty Ltd",
            ("0.10",),
            Decimal("1.55"),
            ("249", "250"),
            "AU",
            "AMAZON AU*",
            "Amazon Commercial Services Pty Ltd",
            3,
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class _Product:
    title: str
    asin: str
    unspsc: str
    price: Decimal  # USD
    gl_code: str
    bulk: bool = False  # consumables bought by the dozen


_CATALOG: tuple[_Product, ...] = (
    _Product(
        "Ticonderoga Neon Pencils, #2 Pre-Sharpened Wood Pencils with Erasers, 18-Count, 13018",
        "B07T8K1HJG",
        "44121700",
        Decimal("5.99"),
        "6100-office",
        True,
    ),
    _Product(
        "Amazon Basics Multipurpose Copy Printer Paper, 8.5 x 11 Inch, 20 lb, 8 Ream Case",
        "B01FV0F8H8",
        "14111507",
        Decimal("42.49"),
        "6100-office",
        True,
    ),
    _Product(
        "Post-it Super Sticky Notes, 3x3 in, 24 Pads, Assorted Bright Colors",
        "B0BQ4XQJ1W",
        "44122003",
        Decimal("21.97"),
        "6100-office",
        True,
    ),
    _Product(
        "Swingline Stapler, Optima 40 Full Strip Desk Stapler, 40 Sheet Capacity (87845)",
        "B0006HXN1G",
        "44121615",
        Decimal("29.79"),
        "6100-office",
    ),
    _Product(
        "Sharpie Permanent Markers, Fine Point, Black, 36 Count",
        "B00006IFHD",
        "44121708",
        Decimal("27.40"),
        "6100-office",
        True,
    ),
    _Product(
        'Dell 27" UltraSharp U2723QE 4K USB-C Hub Monitor',
        "B09TTDRXNS",
        "43211902",
        Decimal("579.99"),
        "6150-it-equipment",
    ),
    _Product(
        "Logitech MX Keys S Wireless Keyboard, Low Profile, Backlit, Bluetooth (Graphite)",
        "B0BKVY4WKT",
        "43211706",
        Decimal("109.99"),
        "6150-it-equipment",
    ),
    _Product(
        "Logitech MX Master 3S - Wireless Performance Mouse, 8K DPI, Quiet Clicks",
        "B09HM94VDS",
        "43211708",
        Decimal("99.99"),
        "6150-it-equipment",
    ),
    _Product(
        "Anker USB C Hub, 7-in-1 Multi-Port Adapter with 4K HDMI, 100W Power Delivery",
        "B07ZVKTP53",
        "43201800",
        Decimal("35.99"),
        "6150-it-equipment",
    ),
    _Product(
        "SanDisk 1TB Extreme Portable SSD - Up to 1050MB/s - USB-C (SDSSDE61-1T00-G25)",
        "B08GTYFC37",
        "43201830",
        Decimal("89.99"),
        "6150-it-equipment",
    ),
    _Product(
        "HP 67XL Black High-yield Ink Cartridge | Works with HP DeskJet 1255, 2700, 4100 Series",
        "B07FQB6C9T",
        "44103105",
        Decimal("36.89"),
        "6100-office",
        True,
    ),
    _Product(
        "Brother Genuine TN760 High Yield Black Toner Cartridge",
        "B06XHMTJ9P",
        "44103103",
        Decimal("78.99"),
        "6100-office",
    ),
    _Product(
        "Clorox Disinfecting Wipes Value Pack, Bleach Free Cleaning Wipes, 75 Count, Pack of 3",
        "B00HSC9F2C",
        "47131502",
        Decimal("14.79"),
        "6200-janitorial",
        True,
    ),
    _Product(
        "Scott 1000 Sheets Per Roll Toilet Paper, 36 Rolls, Septic-Safe, 1-Ply",
        "B008KJEYLO",
        "14111704",
        Decimal("38.99"),
        "6200-janitorial",
        True,
    ),
    _Product(
        "Hefty Ultra Strong Tall Kitchen Trash Bags, Lavender Scent, 13 Gallon, 80 Count",
        "B07BZ7G4GH",
        "47121701",
        Decimal("17.49"),
        "6200-janitorial",
        True,
    ),
    _Product(
        "Starbucks K-Cup Coffee Pods, Medium Roast Coffee, Pike Place Roast, 96 Pods",
        "B07GCNDL91",
        "50201706",
        Decimal("52.99"),
        "6300-breakroom",
        True,
    ),
    _Product(
        "Amazon Brand - Happy Belly Bottled Water, 16.9 fl oz, Pack of 24",
        "B07QQ1KHRT",
        "50202301",
        Decimal("4.99"),
        "6300-breakroom",
        True,
    ),
    _Product(
        "Dixie Everyday Paper Plates, 10 1/16 inch, 220 Count",
        "B00UB3ZN0M",
        "52151502",
        Decimal("19.98"),
        "6300-breakroom",
        True,
    ),
    _Product(
        "Steelcase Series 1 Office Chair - Ergonomic Work Chair with Wheels, Licorice",
        "B07G4K9LHN",
        "56112102",
        Decimal("419.00"),
        "6400-furniture",
    ),
    _Product(
        "FLEXISPOT EN1 Electric Standing Desk, 48 x 24 Inches, Whole-Piece Desk Board",
        "B08DKTVJJ9",
        "56101703",
        Decimal("229.99"),
        "6400-furniture",
    ),
    _Product(
        "First Aid Only 91327 OSHA-Compliant All-Purpose 50-Person Emergency First Aid Kit",
        "B01E0FCOKS",
        "42172001",
        Decimal("45.86"),
        "6500-safety",
    ),
    _Product(
        "3M Safety Glasses, Virtua CCS, ANSI Z87, Anti-Fog, Clear Lens, 20 Pack",
        "B0046AUU4Y",
        "46181802",
        Decimal("59.80"),
        "6500-safety",
        True,
    ),
    _Product(
        "The Phoenix Project: A Novel about IT, DevOps, and Helping Your Business Win",
        "0988262592",
        "55101509",
        Decimal("17.99"),
        "6600-books",
    ),
    _Product(
        "Designing Data-Intensive Applications (Paperback)",
        "1449373321",
        "55101509",
        Decimal("39.99"),
        "6600-books",
    ),
)

_GROUPS: tuple[tuple[str, str], ...] = (
    ("Engineering", "CC-200"),
    ("Facilities", "CC-300"),
    ("Marketing", "CC-400"),
    ("Operations", "CC-500"),
    ("Finance", "CC-100"),
)
_EMPLOYEES: tuple[tuple[str, str], ...] = (
    ("Maria", "Garcia"),
    ("James", "Okafor"),
    ("Zoë", "Müller"),
    ("Priya", "Raman"),
    ("Tom", "O'Brien"),
    ("Renée", "Dubois"),
    ("Kenji", "Watanabe"),
    ("Aisha", "Bello"),
)
_APPROVERS = ("Dana Whitfield", "Marcus Lindqvist")
_THIRD_PARTY_SELLERS = (
    "Prestige Office Supply LLC",
    "TechDirect Wholesale Inc.",
    "CleanPro Distributors",
)
_REFUND_REASONS = (
    "Customer return",
    "Item damaged in transit",
    "Wrong item shipped",
    "No longer needed",
)
_OTHER_VENDORS = (
    "STAPLES 00421 BOSTON MA",
    "OFFICE DEPOT #1123",
    "UBER   *TRIP HELP.UBER.COM",
    "DELTA AIR 0062345987654",
    "ADOBE  *CREATIVE CLOUD",
    "AMAZON WEB SERVICES AWS.AMAZON.CO",
    "W.W. GRAINGER 9173",
    "COSTCO WHSE #0482",
    "ZOOM.US 888-799-9666",
    "FEDEX 783349221",
)
_CARD_TYPES = ("Visa", "American Express", "Mastercard")
_PERSONAL_CARD_TYPES = ("Visa", "Mastercard", "Discover")
_PAY_BY_INVOICE = "Pay by Invoice"
_DOMAIN = "northwind.example"

_COMPANY_CARD, _INVOICE, _PERSONAL = "company-card", "pay-by-invoice", "personal-card"
_ALNUM = string.ascii_letters + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits


@dataclass(frozen=True, slots=True)
class _Person:
    customer: dict[str, str]
    group: str
    cost_center: str


@dataclass(frozen=True, slots=True)
class _Instrument:
    kind: str
    type: str
    last4: str  # "" for pay by invoice
    owner: _Person | None  # the employee of a personal card


@dataclass(slots=True)
class _Booked:
    """A generated transaction, with what the ledger builder needs to know about it."""

    transaction_id: str
    order_id: str
    transaction_type: str
    when: datetime
    amount: Decimal
    currency: str
    invoice_number: str
    instrument: _Instrument
    marketplace: _Marketplace


@dataclass(slots=True)
class _World:
    rng: random.Random
    region: Region
    used_ids: set[str] = field(default_factory=set)
    company_cards: list[str] = field(default_factory=list)

    def unique(self, make: Callable[[], str]) -> str:
        """A value from ``make`` that no other generated id has taken."""
        while True:
            value = make()
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    def chars(self, alphabet: str, count: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(count))

    def digits(self, count: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(count))


# --------------------------------------------------------------------------------------------
# Money helpers


def _q(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), ROUND_HALF_UP)


def _m(amount: Decimal, currency: str) -> dict[str, str]:
    return {"currencyCode": currency, "amount": format_amount(amount, currency)}


def _price(world: _World, product: _Product, market: _Marketplace) -> Decimal:
    """A shelf price near the catalog price, in the marketplace currency (x.x9 endings)."""
    raw = product.price * market.price_factor * Decimal(world.rng.randint(90, 110)) / 100
    if minor_units(market.currency) == 0:
        return max(Decimal(10), (raw / 10).quantize(Decimal(1), ROUND_HALF_UP) * 10)
    return max(Decimal("0.99"), raw.quantize(Decimal("0.1"), ROUND_DOWN) + Decimal("0.09"))


# --------------------------------------------------------------------------------------------
# Generation


def _people(world: _World) -> tuple[list[_Person], dict[str, str]]:
    def account_id() -> str:
        return "amzn1.account." + world.chars(_UPPER_ALNUM, 28)

    people = []
    for i, (first, last) in enumerate(_EMPLOYEES):
        group, cost_center = _GROUPS[i % len(_GROUPS)]
        handle = f"{first}.{last}".lower().replace("'", "")
        handle = handle.encode("ascii", "ignore").decode() or f"user{i}"
        customer = {
            "id": world.unique(account_id),
            "name": f"{first} {last}",
            "email": f"{handle}@{_DOMAIN}",
        }
        people.append(_Person(customer, group, cost_center))
    accounts_payable = {
        "id": world.unique(account_id),
        "name": "Accounts Payable",
        "email": f"ap@{_DOMAIN}",
    }
    return people, accounts_payable


def _instruments(world: _World, people: Sequence[_Person]) -> list[_Instrument]:
    def last4() -> str:
        return world.digits(4)

    cards = [_Instrument(_COMPANY_CARD, card, world.unique(last4), None) for card in _CARD_TYPES]
    world.company_cards = sorted(card.last4 for card in cards)
    cards.append(_Instrument(_INVOICE, _PAY_BY_INVOICE, "", None))
    for person, card in zip(world.rng.sample(list(people), 3), _PERSONAL_CARD_TYPES, strict=True):
        cards.append(_Instrument(_PERSONAL, card, world.unique(last4), person))
    return cards


def _payment_kinds(world: _World, orders: int) -> list[str]:
    """Company card for about half the orders, pay by invoice for 30 %, personal cards 20 %;
    with three or more orders each kind occurs at least once."""
    kinds = world.rng.choices([_COMPANY_CARD, _INVOICE, _PERSONAL], weights=[50, 30, 20], k=orders)
    if orders >= 3:
        forced = world.rng.sample(range(orders), 3)
        for index, kind in zip(forced, (_COMPANY_CARD, _INVOICE, _PERSONAL), strict=True):
            kinds[index] = kind
    return kinds


def _order_number(world: _World, prefix: str) -> str:
    """An Amazon order id: marketplace prefix, then 7 and 7 digits (``112-1234567-7654321``)."""
    return f"{prefix}-{world.digits(7)}-{world.digits(7)}"


def _invoice_number(world: _World, market: _Marketplace) -> str:
    if market.invoice_prefix:
        return world.unique(lambda: market.invoice_prefix + world.chars(_UPPER_ALNUM, 10))
    return world.unique(lambda: "-".join(world.chars(_UPPER_ALNUM, 4) for _ in range(3)))


def _line_amounts(
    unit: Decimal,
    quantity: int,
    shipping: Decimal,
    discount: Decimal,
    rate: Decimal,
    currency: str,
) -> dict[str, Decimal]:
    """Charge amounts of one line item: tax on (principal + shipping + discount)."""
    principal = unit * quantity
    tax = _q((principal + shipping + discount) * rate, currency)
    return {
        "principalAmount": principal,
        "shippingCharge": shipping,
        "discount": discount,
        "tax": tax,
        "totalAmount": principal + shipping + discount + tax,
    }


@dataclass(frozen=True, slots=True)
class _Portion:
    """The part of an order line that travels in one shipment."""

    line_id: str
    product: _Product
    unit: Decimal
    quantity: int
    seller: str
    po_line: str
    discount_rate: Decimal

    def with_quantity(self, quantity: int) -> _Portion:
        return _Portion(
            self.line_id,
            self.product,
            self.unit,
            quantity,
            self.seller,
            self.po_line,
            self.discount_rate,
        )


@dataclass(frozen=True, slots=True)
class _Order:
    """What every transaction of one order shares."""

    order_id: str
    ordered_at: datetime
    market: _Marketplace
    instrument: _Instrument
    buyer: _Person
    payer: dict[str, str]
    po_number: str
    tax_rate: Decimal
    info: dict[str, str]  # businessOrderInfo

    @property
    def currency(self) -> str:
        return self.market.currency


_ChargedLine = tuple[dict[str, Any], _Portion, datetime]  # line item, portion, shipped at


def _new_order(
    world: _World,
    kind: str,
    instruments: Sequence[_Instrument],
    people: Sequence[_Person],
    accounts_payable: dict[str, str],
    start: date,
    days: int,
) -> _Order:
    rng = world.rng
    markets = _MARKETPLACES[world.region]
    market = rng.choices(markets, weights=[m.weight for m in markets])[0]
    instrument = rng.choice([i for i in instruments if i.kind == kind])
    buyer = instrument.owner or rng.choice(people)
    ordered_at = datetime.combine(
        start + timedelta(days=rng.randrange(days)),
        time(rng.randint(7, 19), rng.randint(0, 59), rng.randint(0, 59)),
        tzinfo=UTC,
    )
    order_id = world.unique(partial(_order_number, world, rng.choice(market.order_prefixes)))
    po_number = f"PO-{ordered_at.year}-{world.digits(5)}" if rng.random() < 0.7 else ""
    return _Order(
        order_id=order_id,
        ordered_at=ordered_at,
        market=market,
        instrument=instrument,
        buyer=buyer,
        payer=instrument.owner.customer if instrument.owner else accounts_payable,
        po_number=po_number,
        tax_rate=Decimal(rng.choice(market.tax_rates)),
        info={"GL code": "", "Cost center": buyer.cost_center},
    )


def _plan_shipments(world: _World, order: _Order) -> list[list[_Portion]]:
    """Order lines spread over shipments: every shipment gets at least one line, and a line
    with several units is sometimes split across two shipments."""
    rng = world.rng
    n_lines = rng.choices([1, 2, 3, 4, 5], weights=[30, 30, 20, 15, 5])[0]
    n_shipments = min(n_lines, rng.choices([1, 2, 3], weights=[55, 30, 15])[0])
    products = rng.sample(_CATALOG, n_lines)
    order.info["GL code"] = products[0].gl_code
    shipments: list[list[_Portion]] = [[] for _ in range(n_shipments)]
    for line_no, product in enumerate(products):
        if product.bulk and rng.random() < 0.3:
            quantity = rng.choice([6, 10, 12, 24])
        else:
            quantity = rng.choices([1, 2, 3, 4, 5], weights=[45, 25, 12, 10, 8])[0]
        seller = order.market.amazon_seller
        if rng.random() < 0.25:
            seller = rng.choice(_THIRD_PARTY_SELLERS)
        discount_rate = Decimal(0)
        if rng.random() < 0.12:
            discount_rate = Decimal(rng.choice(["0.05", "0.10", "0.15"]))
        portion = _Portion(
            line_id=world.unique(partial(world.digits, 14)),
            product=product,
            unit=_price(world, product, order.market),
            quantity=quantity,
            seller=seller,
            po_line=str(line_no + 1) if order.po_number else "",
            discount_rate=discount_rate,
        )
        target = line_no if line_no < n_shipments else rng.randrange(n_shipments)
        if n_shipments >= 2 and quantity >= 2 and rng.random() < 0.15:
            first = rng.randint(1, quantity - 1)
            shipments[target].append(portion.with_quantity(first))
            shipments[(target + 1) % n_shipments].append(portion.with_quantity(quantity - first))
        else:
            shipments[target].append(portion)
    return shipments


def _charges(
    world: _World, order: _Order, shipments: list[list[_Portion]]
) -> tuple[list[dict[str, Any]], list[_ChargedLine]]:
    """One CHARGE transaction per shipment, a little after it left the warehouse."""
    rng = world.rng
    currency = order.currency
    shipped_at = sorted(
        order.ordered_at + timedelta(hours=rng.randint(2, 96), minutes=rng.randint(0, 59))
        for _ in shipments
    )
    transactions: list[dict[str, Any]] = []
    charged: list[_ChargedLine] = []
    for portions, shipped in zip(shipments, shipped_at, strict=True):
        shipment_id = world.unique(lambda: "D" + world.chars(_ALNUM, 8))
        shipping = Decimal(0)
        if rng.random() < 0.2:
            fee = Decimal(rng.choice(["4.99", "5.99", "8.99"]))
            shipping = _q(fee * order.market.price_factor, currency)
        items = []
        for position, portion in enumerate(portions):
            principal = portion.unit * portion.quantity
            amounts = _line_amounts(
                portion.unit,
                portion.quantity,
                shipping if position == 0 else Decimal(0),  # shipping billed on the first line
                -_q(principal * portion.discount_rate, currency),
                order.tax_rate,
                currency,
            )
            item = _line_item(order, amounts, portion, shipment_id)
            item["shipmentDate"] = format_datetime(shipped)  # charges ship; refunds don't
            items.append(item)
            charged.append((item, portion, shipped))
        when = shipped + timedelta(minutes=rng.randint(1, 90), milliseconds=rng.randint(0, 999))
        ship_tax_rate = order.tax_rate if shipping else Decimal(0)
        transactions.append(_transaction(world, order, "CHARGE", when, items, ship_tax_rate))
    return transactions, charged


def _refund(world: _World, order: _Order, charged: Sequence[_ChargedLine]) -> dict[str, Any]:
    """A return of some units of one charged line: every amount negated, discount included."""
    rng = world.rng
    item, portion, shipped = rng.choice(charged)
    returned = rng.randint(1, portion.quantity)
    principal = portion.unit * returned
    amounts = _line_amounts(
        portion.unit,
        returned,
        Decimal(0),
        -_q(principal * portion.discount_rate, order.currency),
        order.tax_rate,
        order.currency,
    )
    refund_item = _line_item(
        order,
        {name: -value for name, value in amounts.items()},
        portion.with_quantity(returned),
        item["shipmentId"],
    )
    refund_item["refundReason"] = rng.choice(_REFUND_REASONS)
    when = shipped + timedelta(
        days=rng.randint(5, 30), hours=rng.randint(0, 23), milliseconds=rng.randint(0, 999)
    )
    return _transaction(world, order, "REFUND", when, [refund_item])


def _goodwill(world: _World, order: _Order, charged: Sequence[_ChargedLine]) -> dict[str, Any]:
    """An OVERREFUND: an extra price adjustment on a line, beyond any return."""
    rng = world.rng
    item, portion, shipped = rng.choice(charged)
    currency = order.currency
    credit = _q(portion.unit * Decimal(rng.choice(["0.05", "0.10", "0.20"])), currency)
    adjustment = {
        "totalAmount": _m(-credit, currency),
        "principalAmount": _m(-credit, currency),
        "tax": _m(Decimal(0), currency),
        "refundReason": "Price adjustment",
        "orderId": order.order_id,
        "orderLineItemId": portion.line_id,
        "shipmentId": item["shipmentId"],
        "purchaseOrderNumber": order.po_number,
        "asin": portion.product.asin,
        "productTitle": portion.product.title,
        "unspsc": portion.product.unspsc,
        "merchantLegalName": portion.seller,
        "businessOrderInfo": dict(order.info),
    }
    when = shipped + timedelta(days=rng.randint(2, 20), hours=rng.randint(0, 23))
    return _transaction(world, order, "OVERREFUND", when, [adjustment])


def _generate(
    orders: int, seed: int, start: date, days: int, region: Region
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[_Booked], list[str], _World]:
    world = _World(random.Random(seed), region)
    rng = world.rng
    people, accounts_payable = _people(world)
    instruments = _instruments(world, people)
    kinds = _payment_kinds(world, orders)
    refunded = set(rng.sample(range(orders), max(1, round(orders * 0.15)))) if orders > 1 else set()

    transactions: list[dict[str, Any]] = []
    partial_orders: list[dict[str, Any]] = []
    booked: list[_Booked] = []
    order_ids: list[str] = []
    for index in range(orders):
        order = _new_order(world, kinds[index], instruments, people, accounts_payable, start, days)
        order_ids.append(order.order_id)
        shipments = _plan_shipments(world, order)
        charges, charged = _charges(world, order, shipments)
        made = list(charges)
        if index in refunded:
            made.append(_refund(world, order, charged))
        if rng.random() < 0.03:
            made.append(_goodwill(world, order, charged))
        transactions += made
        booked += (_booked(txn, order) for txn in made)
        # What the transactions cannot tell: when the order was placed and who approved it.
        partial_orders.append(
            {
                "orderId": order.order_id,
                "orderDate": format_datetime(order.ordered_at),
                "orderStatus": "Closed",
                "lastOrderApproverName": rng.choice(_APPROVERS),
            }
        )
    return transactions, partial_orders, booked, order_ids, world


def _line_item(
    order: _Order, amounts: dict[str, Decimal], portion: _Portion, shipment_id: str
) -> dict[str, Any]:
    currency = order.currency
    item: dict[str, Any] = {
        "totalAmount": _m(amounts["totalAmount"], currency),
        "principalAmount": _m(amounts["principalAmount"], currency),
        "shippingCharge": _m(amounts["shippingCharge"], currency),
        "discount": _m(amounts["discount"], currency),
        "tax": _m(amounts["tax"], currency),
        "unitPrice": _m(portion.unit, currency),
        "taxRate": str(order.tax_rate),
        "orderId": order.order_id,
        "unspsc": portion.product.unspsc,
        "orderLineItemId": portion.line_id,
        "purchaseOrderNumber": order.po_number,
    }
    if portion.po_line:
        item["purchaseOrderLineItemId"] = portion.po_line
    item.update(
        {
            "asin": portion.product.asin,
            "productTitle": portion.product.title,
            "itemQuantity": portion.quantity,
            "shipmentId": shipment_id,
            "merchantLegalName": portion.seller,
            "businessOrderInfo": dict(order.info),
        }
    )
    return item


def _transaction(
    world: _World,
    order: _Order,
    transaction_type: str,
    when: datetime,
    items: list[dict[str, Any]],
    ship_tax_rate: Decimal = Decimal(0),
) -> dict[str, Any]:
    """A Reconciliation ``Transaction``; it becomes queryable 0-3 days after it happened."""
    rng = world.rng
    market = order.market
    total = sum((Decimal(item["totalAmount"]["amount"]) for item in items), Decimal(0))
    feed = when + timedelta(seconds=rng.randint(0, 3 * 86400))
    txn: dict[str, Any] = {
        "marketplaceId": market.marketplace_id,
        "transactionDate": format_datetime(when),
        "feedDate": format_datetime(feed),
        "transactionType": transaction_type,
        "transactionId": world.unique(lambda: world.chars(_ALNUM, 20)),
        "chargeIdentifier": world.unique(lambda: world.chars(_UPPER_ALNUM, 9)),
        "shipTaxRate": str(ship_tax_rate) if ship_tax_rate else "0.00",
        "giftWrapTaxRate": "0.00",
        "legalEntityName": market.legal_entity,
        "purchasingCustomerGroupName": order.buyer.group,
    }
    if rng.random() < 0.85:
        txn["invoiceNumber"] = _invoice_number(world, market)
    txn["amount"] = _m(total, order.currency)
    txn["paymentInstrumentType"] = order.instrument.type
    if order.instrument.last4:
        txn["paymentInstrumentLast4Digits"] = order.instrument.last4
    txn["buyer"] = dict(order.buyer.customer)
    txn["payer"] = dict(order.payer)
    txn["transactionLineItems"] = items
    return txn


def _booked(txn: dict[str, Any], order: _Order) -> _Booked:
    return _Booked(
        transaction_id=txn["transactionId"],
        order_id=order.order_id,
        transaction_type=txn["transactionType"],
        when=datetime.fromisoformat(txn["transactionDate"]),
        amount=Decimal(txn["amount"]["amount"]),
        currency=order.currency,
        invoice_number=txn.get("invoiceNumber", ""),
        instrument=order.instrument,
        marketplace=order.market,
    )


# --------------------------------------------------------------------------------------------
# The ledger


@dataclass(slots=True)
class _Draft:
    posted: date
    amount: Decimal
    currency: str
    description: str
    reference: str
    card_last4: str
    transaction_ids: list[str]


def _posted(world: _World, when: datetime) -> date:
    return when.date() + timedelta(days=world.rng.randint(0, 5))


def _statement_line(world: _World, booked: _Booked) -> tuple[str, str]:
    code = world.chars(_UPPER_ALNUM, 9)
    suffix = " REFUND" if booked.amount < 0 else ""
    return f"{booked.marketplace.statement_prefix}{code}{suffix}", ""


def _book_one(world: _World, booked: _Booked) -> _Draft:
    """How the books record a single company-paid transaction."""
    rng = world.rng
    credit = booked.transaction_type != "CHARGE"
    instrument = booked.instrument
    if instrument.kind == _INVOICE:
        # Accounts payable books Amazon's invoices and credit memos by number.
        if booked.invoice_number and rng.random() < 0.8:
            noun = "credit memo" if credit else "invoice"
            seller = booked.marketplace.amazon_seller
            description = f"{seller} {noun} {booked.invoice_number}"
            reference = booked.invoice_number
        else:
            what = "credit" if credit else "pay by invoice"
            description = f"Amazon Business order {booked.order_id} ({what})"
            reference = booked.order_id
        card = ""
    else:
        style = rng.choices(["statement", "order", "invoice"], weights=[45, 30, 25])[0]
        if style == "invoice" and booked.invoice_number:
            noun = "credit memo" if credit else "invoice"
            description = f"Amazon {noun} {booked.invoice_number}"
            reference = booked.invoice_number
        elif style == "statement" or credit:
            description, reference = _statement_line(world, booked)
        else:
            description = f"Amazon Business order {booked.order_id}"
            reference = booked.order_id
        card = instrument.last4 if rng.random() < 0.9 else ""
    return _Draft(
        _posted(world, booked.when),
        booked.amount,
        booked.currency,
        description,
        reference,
        card,
        [booked.transaction_id],
    )


def _ledger(
    world: _World, booked: list[_Booked], order_ids: list[str], start: date, days: int
) -> tuple[list[LedgerRow], list[TruthLink]]:
    rng = world.rng
    by_order: dict[str, list[_Booked]] = {order_id: [] for order_id in order_ids}
    for entry in booked:
        by_order[entry.order_id].append(entry)

    # Orders whose charges the books record as one line.
    eligible = [
        order_id
        for order_id in order_ids
        if by_order[order_id][0].instrument.kind != _PERSONAL
        and sum(1 for b in by_order[order_id] if b.transaction_type == "CHARGE") >= 2
    ]
    aggregated = (
        set(rng.sample(eligible, max(1, round(len(eligible) * 0.25)))) if eligible else set()
    )
    # Company transactions the books never recorded.
    single = [
        b
        for b in booked
        if b.instrument.kind != _PERSONAL
        and not (b.order_id in aggregated and b.transaction_type == "CHARGE")
    ]
    missing_count = max(1, round(len(single) * 0.04)) if len(single) >= 10 else 0
    missing = {b.transaction_id for b in rng.sample(single, missing_count)}
    # Purchases on personal cards are the employee's business; a fifth of them come back to the
    # books as expense claims.
    personal = [
        b for b in booked if b.instrument.kind == _PERSONAL and b.transaction_type == "CHARGE"
    ]
    claimed = {b.transaction_id for b in rng.sample(personal, round(len(personal) * 0.2))}

    drafts: list[_Draft] = []
    for order_id in order_ids:
        entries = by_order[order_id]
        charges = [b for b in entries if b.transaction_type == "CHARGE"]
        if order_id in aggregated:
            last = max(b.when for b in charges)
            instrument = charges[0].instrument
            shipments = f"{len(charges)} shipments"
            drafts.append(
                _Draft(
                    _posted(world, last),
                    sum((b.amount for b in charges), Decimal(0)),
                    charges[0].currency,
                    f"Amazon Business order {order_id} ({shipments})",
                    order_id,
                    instrument.last4,
                    [b.transaction_id for b in charges],
                )
            )
        for entry in entries:
            if order_id in aggregated and entry.transaction_type == "CHARGE":
                continue
            if entry.instrument.kind == _PERSONAL:
                if entry.transaction_id in claimed:
                    owner = entry.instrument.owner
                    name = owner.customer["name"] if owner else "employee"
                    drafts.append(
                        _Draft(
                            _posted(world, entry.when),
                            entry.amount,
                            entry.currency,
                            f"Expense claim {name}: Amazon purchase",
                            entry.order_id if rng.random() < 0.5 else "",
                            entry.instrument.last4,
                            [entry.transaction_id],
                        )
                    )
                continue
            if entry.transaction_id in missing:
                continue
            drafts.append(_book_one(world, entry))

    # Other vendors, one of them with the very amount of an Amazon charge a day or two later.
    markets = _MARKETPLACES[world.region]
    cards = sorted({b.instrument.last4 for b in booked if b.instrument.kind == _COMPANY_CARD})
    charges = [b for b in booked if b.transaction_type == "CHARGE"]
    n_other = max(2, len(order_ids) // 10)
    for i in range(n_other):
        market = markets[0] if i % 3 else rng.choice(markets)
        posted = start + timedelta(days=rng.randrange(days + 5))
        amount = _q(Decimal(rng.randint(500, 80000)) / 100 * market.price_factor, market.currency)
        currency = market.currency
        if i == 0 and charges:
            decoy = rng.choice(charges)
            amount, currency = decoy.amount, decoy.currency
            posted = decoy.when.date() + timedelta(days=rng.randint(1, 2))
        drafts.append(
            _Draft(
                posted,
                amount,
                currency,
                rng.choice(_OTHER_VENDORS),
                "",
                rng.choice(cards) if cards and rng.random() < 0.8 else "",
                [],
            )
        )

    ordered = sorted(enumerate(drafts), key=lambda item: (item[1].posted, item[0]))
    width = max(6, len(str(len(ordered))))
    rows: list[LedgerRow] = []
    links: list[TruthLink] = []
    for number, (_, draft) in enumerate(ordered, start=1):
        entry_id = f"GL-{number:0{width}d}"
        rows.append(
            LedgerRow(
                entry_id,
                draft.posted,
                draft.amount,
                draft.currency,
                draft.description,
                draft.reference,
                draft.card_last4,
            )
        )
        links.extend(TruthLink(entry_id, txn_id) for txn_id in sorted(draft.transaction_ids))
    return rows, links


# --------------------------------------------------------------------------------------------
# Public API


def generate_scenario(
    orders: int,
    seed: int,
    *,
    start: date | None = None,
    days: int = 90,
    region: Region = Region.NA,
) -> tuple[Scenario, list[LedgerRow], list[TruthLink]]:
    """Invent ``orders`` orders placed over ``days`` days from ``start`` in ``region``.

    Returns the scenario the sandbox serves, the company ledger (sorted by ``entry_id``, which
    is also posting order) and the true ledger-to-transaction links (sorted by entry id, then
    transaction id). The same arguments always give the same result.
    """
    scenario, rows, links, _ = _scenario_and_cards(orders, seed, start, days, region)
    return scenario, rows, links


def _scenario_and_cards(
    orders: int, seed: int, start: date | None, days: int, region: Region
) -> tuple[Scenario, list[LedgerRow], list[TruthLink], list[str]]:
    """:func:`generate_scenario`, and the last four digits of the company's own cards."""
    if orders < 1:
        raise ValueError("orders must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    region = Region(region)
    if region not in REGIONS:
        raise ValueError(f"unknown region {region}")
    transactions, partial_orders, booked, order_ids, world = _generate(
        orders, seed, start or DEFAULT_START, days, region
    )
    scenario = Scenario.from_json({"transactions": transactions, "orders": partial_orders})
    rows, links = _ledger(world, booked, order_ids, start or DEFAULT_START, days)
    return scenario, rows, links, world.company_cards


def write_ledger_csv(path: Path, rows: Sequence[LedgerRow]) -> None:
    """Write ``rows`` in the canonical ledger layout (UTF-8, ``\\n``, sorted by entry id)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LEDGER_HEADER)
    for row in sorted(rows, key=lambda r: r.entry_id):
        writer.writerow(
            (
                row.entry_id,
                row.posted_date.isoformat(),
                format_amount(row.amount, row.currency),
                row.currency,
                row.description,
                row.reference,
                row.card_last4,
            )
        )
    Path(path).write_bytes(buffer.getvalue().encode("utf-8"))


def write_truth_csv(path: Path, links: Sequence[TruthLink]) -> None:
    """Write the ledger-to-transaction links (UTF-8, ``\\n``, sorted by entry id)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRUTH_HEADER)
    for link in sorted(links, key=lambda k: (k.entry_id, k.transaction_id)):
        writer.writerow((link.entry_id, link.transaction_id))
    Path(path).write_bytes(buffer.getvalue().encode("utf-8"))


def read_ledger_csv(path: Path) -> list[LedgerRow]:
    """Read a ledger CSV in the canonical layout (amounts as ``Decimal``)."""
    with Path(path).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != LEDGER_HEADER:
            raise ValueError(f"{path}: expected the header {','.join(LEDGER_HEADER)}")
        return [
            LedgerRow(
                r["entry_id"],
                date.fromisoformat(r["posted_date"]),
                Decimal(r["amount"]),
                r["currency"],
                r["description"],
                r["reference"],
                r["card_last4"],
            )
            for r in reader
        ]


def read_truth_csv(path: Path) -> list[TruthLink]:
    """Read a truth CSV (``ledger_entry_id,transaction_id``)."""
    with Path(path).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != TRUTH_HEADER:
            raise ValueError(f"{path}: expected the header {','.join(TRUTH_HEADER)}")
        return [TruthLink(r["ledger_entry_id"], r["transaction_id"]) for r in reader]


def write_scenario(
    out_dir: Path,
    orders: int,
    seed: int,
    *,
    start: date | None = None,
    days: int = 90,
    region: Region = Region.NA,
) -> dict[str, Path]:
    """Generate a scenario and write ``scenario.json``, ``ledger.csv``, ``truth.csv`` and
    ``company.json`` (``{"company_cards": [last four digits, ...]}``: which cards are the
    company's, for ``ABRECON_COMPANY_CARDS``; the others are employees' personal cards).

    Returns their paths under the keys ``"scenario"``, ``"ledger"``, ``"truth"``, ``"company"``.
    """
    scenario, rows, links, cards = _scenario_and_cards(orders, seed, start, days, region)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "scenario": out / "scenario.json",
        "ledger": out / "ledger.csv",
        "truth": out / "truth.csv",
        "company": out / "company.json",
    }
    text = json.dumps(scenario.to_json(), indent=2, ensure_ascii=False) + "\n"
    paths["scenario"].write_bytes(text.encode("utf-8"))
    write_ledger_csv(paths["ledger"], rows)
    write_truth_csv(paths["truth"], links)
    paths["company"].write_text(json.dumps({"company_cards": cards}) + "\n", encoding="utf-8")
    return paths
