"""The northbound REST API (reference chapter 1): FastAPI app, DTOs, one route module per section."""
