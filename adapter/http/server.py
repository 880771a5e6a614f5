"""Run the Flask app under gunicorn from `s117 serve` (one command for both modes)."""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from adapter import config
from adapter.bootstrap import prepare_embedded
from adapter.http.app import create_app
from adapter.outbound import start_in_process_bus
from register.store import database

log = logging.getLogger("s117.serve")


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: config.Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Runs in each worker after the fork, so the in-process bus's threads and database
        # connections belong to the worker that uses them.
        app = create_app(self.settings)
        start_in_process_bus(app.extensions["s117"])
        return app


def run(settings: config.Settings, *, host: str, port: int, workers: int) -> None:
    if settings.auth == "off":
        log.warning("S117_AUTH=off: no authentication (allowed only with SQLite, for "
                    "development)")
    # Prepare the embedded database once, before workers fork.
    prepare_embedded(settings, database.make_engine(settings.database_url))
    _Gunicorn(settings, {"bind": f"{host}:{port}", "workers": workers,
                         "accesslog": "-", "timeout": 60}).run()
