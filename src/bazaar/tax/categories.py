"""The one list of product tax categories: the tax table, the catalog, the seed and the database
constraint all read it, so a product can never carry a category the tax module does not know."""

from __future__ import annotations

from typing import Final, Literal, get_args

from bazaar.kernel.errors import ValidationFailed

TaxCategory = Literal["general", "clothing", "grocery", "books", "digital"]
TAX_CATEGORIES: Final[tuple[str, ...]] = get_args(TaxCategory)
DEFAULT_TAX_CATEGORY: Final = "general"


class UnknownTaxCategory(ValidationFailed):
    """A product or department names a tax category that is not in TAX_CATEGORIES."""

    code = "unknown_tax_category"


def check_tax_category(value: str) -> str:
    """`value` if it is a known tax category; raises UnknownTaxCategory otherwise."""
    if value not in TAX_CATEGORIES:
        raise UnknownTaxCategory(
            f"unknown tax category {value!r}; known: {', '.join(TAX_CATEGORIES)}", tax_category=value
        )
    return value


def tax_category_check_sql(column: str = "tax_category") -> str:
    """The SQL CHECK that keeps unknown categories out of the table (used by the model and the migration)."""
    return f"{column} IN ({', '.join(repr(c) for c in TAX_CATEGORIES)})"
