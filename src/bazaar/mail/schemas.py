"""Mail schemas: email preferences as the API reads and answers them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from bazaar.mail.kinds import KIND_NAMES


class PreferencesRead(BaseModel):
    email: dict[str, bool] = Field(description="kind of email -> whether it is sent")


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: dict[str, StrictBool] = Field(
        default_factory=dict,
        max_length=50,
        description="kind of email -> whether to send it; an unknown kind answers 422 `unknown_email_kind`",
        json_schema_extra={"propertyNames": {"enum": list(KIND_NAMES)}},
    )
