"""The web UI: server-rendered pages (Jinja2 templates in templates/, a little JavaScript
and CSS of our own in static/). ``site.install(app)`` adds them to the FastAPI app."""
