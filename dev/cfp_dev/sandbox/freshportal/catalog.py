"""Products and customers of a simulated flower and plant trader.

Prices are base prices in euro cents, converted to each currency with a fixed rate and that
currency's ISO 4217 exponent (JPY 0, KWD 3), so every generated amount is an exact integer of
minor units. E-mail domains are under ``.example`` (reserved, RFC 2606).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from checkout_freshportal.money import exponent

#: (article code, description, unit, base price in euro cents per unit, typical quantities)
PRODUCTS: tuple[tuple[str, str, str, int, tuple[int, ...]], ...] = (
    ("ROS-NAO-60", "Rosa Red Naomi 60cm", "stem", 62, (60, 120, 240, 480)),
    ("ROS-AVA-50", "Rosa Avalanche 50cm", "stem", 48, (60, 120, 300)),
    ("TUL-STG-38", "Tulipa Strong Gold 38cm", "stem", 27, (100, 250, 500)),
    ("CHR-BAL-WH", "Chrysanthemum Baltica White", "stem", 39, (80, 160, 400)),
    ("ALS-VIR-70", "Alstroemeria Virginia 70cm", "stem", 31, (100, 200)),
    ("GER-MIN-MX", "Gerbera Mini Mix", "stem", 22, (50, 150, 300)),
    ("LIL-SIB-80", "Lilium Oriental Siberia 80cm", "stem", 115, (40, 80, 160)),
    ("PAE-SAB-BD", "Paeonia Sarah Bernhardt", "stem", 165, (30, 60, 90)),
    ("FRE-YEL-60", "Freesia Yellow 60cm", "stem", 35, (50, 100)),
    ("EUC-CIN-BU", "Eucalyptus cinerea", "bunch", 295, (10, 25, 50)),
    ("LIS-ROS-WH", "Lisianthus Rosita White", "stem", 79, (40, 80, 120)),
    ("HYD-MAC-BL", "Hydrangea macrophylla Blue 19cm pot", "pot", 645, (6, 12, 24)),
    ("PHA-2ST-12", "Phalaenopsis 2-stem 12cm pot", "pot", 890, (8, 16, 32)),
    ("FIC-LYR-21", "Ficus lyrata 21cm pot", "pot", 1450, (4, 8, 12)),
    ("MON-DEL-27", "Monstera deliciosa 27cm pot", "pot", 2290, (2, 4, 6)),
    ("SUC-MIX-TR", "Succulent mix 5.5cm tray (20)", "tray", 1180, (5, 10, 20)),
)

#: (id, name, e-mail, country, currency)
CUSTOMERS: tuple[tuple[int, str, str, str, str], ...] = (
    (2001, "Bloemenhandel De Vries B.V.", "inkoop@devries-bloemen.example", "NL", "EUR"),
    (2002, "Fleurop Partner Hamburg GmbH", "bestellung@hamburg-blumen.example", "DE", "EUR"),
    (2003, "Fleuriste Lumière SARL", "commandes@lumiere-fleurs.example", "FR", "EUR"),
    (2004, "Covent Garden Stems Ltd", "buying@coventstems.example", "GB", "GBP"),
    (2005, "Highland Florist Supplies Ltd", "orders@highland-florist.example", "GB", "GBP"),
    (2006, "Brooklyn Petals LLC", "ap@brooklynpetals.example", "US", "USD"),
    (2007, "Stockholm Blommor AB", "order@sthlm-blommor.example", "SE", "SEK"),
    (2008, "Tokyo Hana Trading K.K.", "shiire@tokyohana.example", "JP", "JPY"),
    (2009, "Al Zahra Flowers W.L.L.", "purchasing@alzahra-flowers.example", "KW", "KWD"),
    (2010, "Tuincentrum Groen & Co", "administratie@groenenco.example", "NL", "EUR"),
)

CITIES: dict[str, tuple[str, str, str]] = {
    "NL": ("Aalsmeer", "1431 GZ", "Legmeerdijk 313"),
    "DE": ("Hamburg", "20095", "Mönckebergstraße 7"),
    "FR": ("Lyon", "69002", "12 Rue de la République"),
    "GB": ("London", "SW8 5NX", "1 Nine Elms Lane"),
    "US": ("Brooklyn, NY", "11201", "145 Front Street"),
    "SE": ("Stockholm", "111 52", "Vasagatan 16"),
    "JP": ("Tokyo", "104-0045", "5-2-1 Tsukiji, Chuo-ku"),
    "KW": ("Kuwait City", "13001", "Block 3, Street 12, Sharq"),
}

#: Rough fixed rates from EUR; enough to make amounts look right in each currency.
RATES: dict[str, Decimal] = {
    "EUR": Decimal("1"),
    "GBP": Decimal("0.86"),
    "USD": Decimal("1.08"),
    "SEK": Decimal("11.40"),
    "JPY": Decimal("162"),
    "KWD": Decimal("0.332"),
}

REFUND_REASONS: tuple[str, ...] = ("damaged_goods", "short_delivery", "quality_complaint", "price_correction")


def unit_price_minor(eur_cents: int, currency: str) -> int:
    """Base price in euro cents -> integer minor units of ``currency`` (at least 1)."""
    rate = RATES.get(currency.upper(), Decimal("1"))
    major = Decimal(eur_cents) / 100 * rate
    minor = (major.scaleb(exponent(currency))).to_integral_value(rounding=ROUND_HALF_EVEN)
    return max(int(minor), 1)
