"""Shipping addresses: required fields, ISO-3166 country codes and postal code shapes."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# ISO-3166-1 alpha-2 codes of countries and territories.
ISO_COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW
    BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK
    FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS
    IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM
    MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS
    PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK
    TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()
)
US_REGIONS = frozenset(
    """AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH
    OK OR PA PR RI SC SD TN TX UT VT VA WA WV WI WY""".split()
)
CA_REGIONS = frozenset("AB BC MB NB NL NS NT NU ON PE QC SK YT".split())
POSTAL_SHAPES = {
    "US": re.compile(r"^\d{5}(-\d{4})?$"),
    "CA": re.compile(r"^[A-Z]\d[A-Z] ?\d[A-Z]\d$"),
    "GB": re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$"),
    "DE": re.compile(r"^\d{5}$"),
    "FR": re.compile(r"^\d{5}$"),
    "NL": re.compile(r"^\d{4} ?[A-Z]{2}$"),
    "AU": re.compile(r"^\d{4}$"),
}
_GENERIC_POSTAL = re.compile(r"^[A-Z0-9][A-Z0-9 -]{1,9}$")


class ShippingAddress(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=120)
    region: str = Field(min_length=1, max_length=80)
    postal_code: str = Field(min_length=1, max_length=16)
    country: str = Field(
        min_length=2,
        max_length=2,
        description="ISO-3166 alpha-2",
        json_schema_extra={"enum": list[Any](sorted(ISO_COUNTRIES))},  # the document says which codes are accepted
    )

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        value = value.upper()
        if value not in ISO_COUNTRIES:
            raise ValueError("country must be an ISO-3166 alpha-2 code such as US or DE")
        return value

    @model_validator(mode="after")
    def _regional_shapes(self) -> ShippingAddress:
        self.postal_code = self.postal_code.upper()
        if self.country == "US":
            self.region = self.region.upper()
            if self.region not in US_REGIONS:
                raise ValueError("region must be a US state code such as CA or NY")
        if self.country == "CA":
            self.region = self.region.upper()
            if self.region not in CA_REGIONS:
                raise ValueError("region must be a Canadian province code such as ON")
        shape = POSTAL_SHAPES.get(self.country, _GENERIC_POSTAL)
        if not shape.match(self.postal_code):
            raise ValueError(f"postal_code {self.postal_code!r} is not a valid postal code for {self.country}")
        return self
