"""What every params section shares: forbidden unknown keys, frozen values, and the error type."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from medimg.io.problems import InputError

PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Ratio = Annotated[float, Field(ge=0, le=1)]


class ParamsError(InputError, ValueError):
    """params.yaml is missing, unreadable or invalid; the message names every bad key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
