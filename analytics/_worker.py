"""The worker process of :class:`analytics.background.Background`."""

from analytics.background import serve

if __name__ == "__main__":
    serve()
