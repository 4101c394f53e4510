"""§1.3 request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LoginIn(BaseModel):
    appId: str = Field(max_length=256)
    secret: str = Field(max_length=256)


class RefreshIn(LoginIn):
    refreshToken: str = Field(max_length=256)


class TokenOut(BaseModel):
    scope: str = Field(examples=["default"])
    tokenType: str = Field(examples=["Bearer"])
    expiresIn: int = Field(examples=[3600])
    accessToken: str
    refreshToken: str
