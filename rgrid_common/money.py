"""Money: integer micro-euros (1 EUR = 1,000,000) in the database, the API and the code;
text only where a person reads it. No float ever holds an amount: prices arrive as
decimal strings (Hetzner's API, a setting, a command line) and go through ``Decimal``."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from rgrid_common.errors import InvalidInput

MICROS_PER_EUR = 1_000_000


def micros_from_eur(text: str | int | Decimal) -> int:
    """``"0.0071"`` (euros, as Hetzner and people write them) as micro-euros, rounded half
    to even once, here."""
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise InvalidInput(f"Not an amount of euros: {text!r}.",
                           "Write it as a number, for example 50 or 0.0071.") from exc
    if not amount.is_finite() or amount < 0:
        raise InvalidInput(f"Not an amount of euros: {text!r}.",
                           "Write a number of euros of zero or more.")
    return int((amount * MICROS_PER_EUR).to_integral_value(rounding=ROUND_HALF_EVEN))


def format_eur(micros: int, *, places: int = 4, symbol: str = "€") -> str:
    """``12345`` → ``"€0.0123"``; at least ``places`` decimals, and two significant
    digits of an amount under a tenth of a cent (a run of a few seconds costs that)."""
    amount = Decimal(micros) / MICROS_PER_EUR
    shown = places
    while 0 < abs(micros) and shown < 6 and abs(amount) < Decimal(1).scaleb(1 - shown):
        shown += 1
    quantum = Decimal(1).scaleb(-shown)
    return f"{symbol}{amount.quantize(quantum, rounding=ROUND_HALF_EVEN)}"
