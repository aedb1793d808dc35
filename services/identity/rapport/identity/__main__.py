"""``python -m rapport.identity``: serve the identity service until SIGTERM."""

from __future__ import annotations

from rapport.grpcserver import run
from rapport.identity.bootstrap import build
from rapport.identity.settings import IdentitySettings


def main() -> None:
    run(build, IdentitySettings())


if __name__ == "__main__":
    main()
