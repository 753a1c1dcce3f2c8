"""Retention Advisor web app: ``python app.py`` serves it on the bundled sample shop.

Settings (``ADVISOR_DATA``, ``ADVISOR_HOST``, ``ADVISOR_PORT``, ``ADVISOR_AUTH``, a model
endpoint, ...) come from the environment or a ``.env`` file; see the README.
``retention-advisor serve [--data FILE] [--host HOST] [--port PORT]`` does the same.
"""

from advisor.web import serve

if __name__ == "__main__":
    serve()
