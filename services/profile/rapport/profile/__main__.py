"""python -m rapport.profile: serve the profile service with settings from the environment."""

from rapport.grpcserver import run
from rapport.profile.bootstrap import build
from rapport.profile.settings import ProfileSettings


def main() -> None:
    run(build, ProfileSettings())


if __name__ == "__main__":
    main()
