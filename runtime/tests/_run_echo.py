"""`python runtime/tests/_run_echo.py`: the echo service (and its HTTP app) through
rapport.grpcserver.run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runtime/

from rapport.config import ServiceSettings  # noqa: E402
from rapport.grpcserver import run  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _echo import make_build  # noqa: E402
from _http_app import make_http_app  # noqa: E402

if __name__ == "__main__":
    run(make_build(http_app=make_http_app()), ServiceSettings())
