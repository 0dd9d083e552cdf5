"""The HTTP API: ``create_app(settings, service)``; request/response models in ``models``."""

from scheduler.api.app import create_app

__all__ = ["create_app"]
