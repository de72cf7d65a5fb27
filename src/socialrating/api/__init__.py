"""The HTTP API: a thin FastAPI face over the use cases (``socialrating.service``)."""

from socialrating.api.app import create_app

__all__ = ["create_app"]
