"""Mail schemas: email preferences as the API reads and answers them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PreferencesRead(BaseModel):
    email: dict[str, bool] = Field(description="kind of email -> whether it is sent")


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: dict[str, bool] = Field(default_factory=dict, max_length=50)
