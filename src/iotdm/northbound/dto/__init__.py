"""Pydantic models with the reference's field names: request validation and the OpenAPI document."""
