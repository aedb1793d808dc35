"""`python -m rapport.decisioning`: serve with settings from the environment."""

from rapport.decisioning.bootstrap import build
from rapport.decisioning.settings import DecisioningSettings
from rapport.grpcserver import run


def main() -> None:
    run(build, DecisioningSettings())


if __name__ == "__main__":
    main()
