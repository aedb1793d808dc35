"""python -m rapport.consent: serve the consent service with settings from the environment."""

from rapport.consent.bootstrap import build
from rapport.consent.settings import ConsentSettings
from rapport.grpcserver import run


def main() -> None:
    run(build, ConsentSettings())


if __name__ == "__main__":
    main()
