"""The HTTP service and the command line: thin layers over :mod:`matcher`."""

from service.app import create_app

__all__ = ["create_app"]
