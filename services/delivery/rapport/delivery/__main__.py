"""python -m rapport.delivery: settings from the environment, then serve."""

from rapport.delivery.bootstrap import build
from rapport.delivery.settings import DeliverySettings
from rapport.grpcserver import run


def main() -> None:
    run(build, DeliverySettings())


if __name__ == "__main__":
    main()
