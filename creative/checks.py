"""Brand-safety and faithfulness checks on finished copy.

* Forbidden words: whole-word, case-insensitive phrases from the default list plus the request's own.
* Faithfulness: every number, price or percentage in the copy must come from the product facts
  (name, brand, description, features, category, price). A percentage must match a percentage in the
  facts and a money amount must match the price or a money amount in the facts; "1,200" equals 1200 and
  "89.00" equals 89. Spelled-out numbers ("ten") are not checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import regex

from core.schema import Product

CURRENCY_SYMBOLS = "$€£¥₹₩"
CURRENCY_CODES = (
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "CAD",
    "AUD",
    "CHF",
    "INR",
    "CNY",
    "KRW",
    "SEK",
    "NOK",
    "DKK",
    "BRL",
    "MXN",
)
PERCENT_WORD = "percent"  # like "%" after a number, when a whole word (case-insensitive, as the codes)
_NUMBER = regex.compile(
    rf"(?P<symbol>[{CURRENCY_SYMBOLS}])?\s?"
    r"(?<![\w.,])(?P<number>\d+(?:[.,]\d+)*)(?![\w]*\d)"
    rf"(?P<percent>\s?(?:%|{PERCENT_WORD}\b))?"
    rf"(?P<code>\s?(?:{'|'.join(CURRENCY_CODES)})\b)?",
    regex.IGNORECASE,
)


def parse_number(token: str) -> float | None:
    """Parse "1,200", "89.99", "1.200,50" style tokens; None when it is not a number."""
    if regex.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", token):
        token = token.replace(",", "")
    elif regex.fullmatch(r"\d{1,3}(\.\d{3})+(,\d+)?", token):
        token = token.replace(".", "").replace(",", ".")
    elif regex.fullmatch(r"\d+,\d{1,2}", token):
        token = token.replace(",", ".")
    try:
        return round(float(token), 2)
    except ValueError:
        return None


@dataclass(frozen=True)
class NumberMention:
    """A number found in text, with what kind of quantity it is."""

    text: str
    value: float
    kind: str  # "percent" | "money" | "number"
    digits: str = ""  # the number alone, as written ("1,200")


def find_numbers(text: str) -> list[NumberMention]:
    """All numbers in ``text`` classified as percent, money or plain number."""
    mentions = []
    for match in _NUMBER.finditer(text):
        value = parse_number(match.group("number"))
        if value is None:
            continue
        if match.group("percent"):
            kind = "percent"
        elif match.group("symbol") or match.group("code"):
            kind = "money"
        else:
            kind = "number"
        mentions.append(NumberMention(match.group(0).strip(), value, kind, match.group("number")))
    return mentions


@dataclass(frozen=True)
class ProductFacts:
    """The numbers a piece of copy may use, by kind."""

    numbers: frozenset[float]
    percents: frozenset[float]
    money: frozenset[float]
    spelled: frozenset[str] = frozenset()  # the facts' numbers as they write them ("1,200", "0.125")

    @classmethod
    def from_product(cls, product: Product) -> ProductFacts:
        """Collect the allowed numbers from every fact of ``product``."""
        texts = [product.name, product.brand or "", product.description, product.category or ""]
        mentions = [m for text in [*texts, *product.features] for m in find_numbers(text)]
        numbers = {m.value for m in mentions}
        money = {m.value for m in mentions if m.kind == "money"}
        if product.price is not None:
            price = round(product.price, 2)
            numbers.add(price)
            money.add(price)
        percents = {m.value for m in mentions if m.kind == "percent"}
        spelled = frozenset(m.digits for m in mentions)
        return cls(frozenset(numbers), frozenset(percents), frozenset(money), spelled)

    def unsupported(self, text: str) -> list[str]:
        """Reasons for each number in ``text`` that the facts do not support."""
        reasons = []
        for mention in find_numbers(text):
            if mention.kind == "percent" and mention.value not in self.percents:
                reasons.append(f"percentage {mention.text!r} is not in the product facts")
            elif mention.kind == "money" and mention.value not in self.money:
                reasons.append(f"price {mention.text!r} is not in the product facts")
            elif mention.kind == "number" and mention.value not in self.numbers:
                reasons.append(f"number {mention.text!r} is not in the product facts")
        return reasons


@dataclass(frozen=True)
class ForbiddenWords:
    """Case-insensitive whole-word matcher for banned words and phrases."""

    words: tuple[str, ...]
    _pattern: regex.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cleaned = sorted({w.strip().lower() for w in self.words if w.strip()}, key=len, reverse=True)
        pattern = (
            regex.compile(r"(?<!\w)(" + "|".join(regex.escape(w) for w in cleaned) + r")(?!\w)", regex.I)
            if cleaned
            else None
        )
        object.__setattr__(self, "_pattern", pattern)

    @classmethod
    def combine(cls, *lists: Iterable[str]) -> ForbiddenWords:
        """One matcher for several word lists."""
        return cls(tuple(word for words in lists for word in words))

    def found(self, text: str) -> list[str]:
        """The forbidden words present in ``text``, lower-cased, in order of appearance."""
        if self._pattern is None:
            return []
        return list(dict.fromkeys(m.group(1).lower() for m in self._pattern.finditer(text)))
