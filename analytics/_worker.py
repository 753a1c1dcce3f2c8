"""The worker process of :class:`analytics.background.Background`."""

import sys

from analytics.background import serve

if __name__ == "__main__":
    serve(sys.argv[1:])  # modules to import before the call comes
