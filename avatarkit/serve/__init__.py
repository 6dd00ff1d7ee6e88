"""The render service: an HTTP API over a job store and workers (see `create_app`).

Import the pieces from their modules; this package's import stays light so
`avatarkit` without the service extras (FastAPI, uvicorn) still works.
"""

from .config import RateDefaults, ServeConfig

__all__ = ["RateDefaults", "ServeConfig", "create_app"]


def create_app(*args, **kwargs):
    """`avatarkit.serve.app.create_app`, imported on first use."""
    from .app import create_app as _create

    return _create(*args, **kwargs)
