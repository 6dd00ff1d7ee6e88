"""The `avatarkit` command line, one module per group of commands; `main` is the console entry point."""

from .main import app, main

__all__ = ["app", "main"]
