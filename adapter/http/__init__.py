"""HTTP edge: Flask app factory and blueprints."""

from __future__ import annotations

from flask import current_app

from adapter.intake import Intake


def intake() -> Intake:
    """This worker process's message intake, shared by POST /hl7v2 and $process-message (one
    bus, one in-process processor); built on first use, after gunicorn forks."""
    found = current_app.extensions.get("s117.intake")
    if found is None:
        from adapter.bootstrap import intake as build

        register = current_app.extensions["s117"]
        found = current_app.extensions["s117.intake"] = build(register.settings, "http",
                                                              register)
    return found
