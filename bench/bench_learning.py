"""Learning quality of decisioning's built-in bandit on a simulated contextual environment.

Environment: each round a customer arrives with categorical traits (plan, region,
device, tenure band); there are `--actions` actions; the customer takes action a up
with probability sigmoid(b_a + Σ w_a[trait=value]) (a hidden logistic model, drawn
once per seed, most take-up rates between 1% and 40%). A learner picks one action and
sees only that action's reward. Figures: cumulative reward over `--rounds` rounds,
mean over `--seeds` seeds, for

- builtin: rapport.decisioning's LinearThompsonBandit (the code Decide uses:
  named features of the traits, feature hashing, Thompson sampling), learning online;
- vw-epsilon / vw-squarecb: Vowpal Wabbit's `cb_explore_adf` (package
  `vowpalwabbit`), shared traits × action interactions (-q SA), epsilon-greedy 0.05
  and SquareCB;
- obp-lints: obp's LinTS (package `obp`) on one-hot contexts (`make bench` installs
  obp 0.5.7 beside the `bench` extra: see pyproject.toml);
- random: a uniformly random action;
- oracle: the best action knowing the hidden model (the ceiling).

Run: .venv/bin/python bench/bench_learning.py [--rounds 5000 --seeds 3 --actions 10]
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rapport.decisioning.domain.features import named_features
from rapport.decisioning.domain.learning import (
    DEFAULT_DIMENSIONS,
    DEFAULT_EXPLORATION,
    LinearThompsonBandit,
    ModelKind,
    ModelMode,
    ModelSpec,
)

TRAITS = {
    "plan": ["basic", "silver", "gold", "platinum"],
    "region": ["north", "south", "east", "west", "centre"],
    "device": ["ios", "android", "web"],
    "tenure": ["new", "1y", "3y", "5y+"],
}
BASE_PROPENSITY = 0.1


@dataclass
class Environment:
    bias: np.ndarray  # (actions,)
    weights: dict[str, np.ndarray]  # trait -> (values, actions)
    rng: np.random.Generator

    @classmethod
    def draw(cls, actions: int, seed: int) -> Environment:
        rng = np.random.default_rng(seed)
        bias = rng.normal(-2.6, 0.5, actions)
        weights = {k: rng.normal(0.0, 0.8, (len(v), actions)) for k, v in TRAITS.items()}
        return cls(bias, weights, np.random.default_rng(seed + 1))

    def customer(self) -> dict[str, int]:
        return {k: int(self.rng.integers(len(v))) for k, v in TRAITS.items()}

    def take_up(self, customer: dict[str, int]) -> np.ndarray:
        logits = self.bias + sum(self.weights[k][i] for k, i in customer.items())
        return 1.0 / (1.0 + np.exp(-logits))


def traits_of(customer: dict[str, int]) -> dict[str, str]:
    return {k: TRAITS[k][i] for k, i in customer.items()}


class Builtin:
    name = "builtin"

    def __init__(self, actions: int, seed: int, exploration: float, dimensions: int) -> None:
        spec = ModelSpec(
            "bench", "bench", ModelKind.BANDIT, ModelMode.ACTIVE, features=("traits",),
            dimensions=dimensions, exploration=exploration,
        )  # fmt: skip
        self.bandit = LinearThompsonBandit(spec)
        self.ids = [f"a{i}" for i in range(actions)]
        self.rng = np.random.default_rng(seed)
        self.features: dict[str, float] = {}

    def choose(self, customer: dict[str, int]) -> int:
        self.features = named_features(["traits"], {"traits": traits_of(customer)}, {})
        scores = self.bandit.score(
            self.ids, [BASE_PROPENSITY] * len(self.ids), self.features, self.rng, draws=0
        )
        return int(np.argmax(scores.propensity))

    def learn(self, customer: dict[str, int], action: int, reward: float) -> None:
        self.bandit.observe(self.ids[action], self.features, exposed=True, reward=reward)


class VowpalWabbit:
    def __init__(self, actions: int, seed: int, name: str, arguments: str) -> None:
        import vowpalwabbit

        self.name = name
        self.vw = vowpalwabbit.Workspace(
            f"--cb_explore_adf {arguments} -q SA --quiet --random_seed {seed}"
        )
        self.actions = actions
        self.rng = np.random.default_rng(seed)
        self.pmf: list[float] = []

    def _lines(self, customer: dict[str, int]) -> list[str]:
        shared = " ".join(f"{k}={v}" for k, v in traits_of(customer).items())
        return [f"shared |S {shared}"] + [f"|A action={a}" for a in range(self.actions)]

    def choose(self, customer: dict[str, int]) -> int:
        self.pmf = list(self.vw.predict(self._lines(customer)))
        pmf = np.asarray(self.pmf, dtype=float)
        return int(self.rng.choice(self.actions, p=pmf / pmf.sum()))

    def learn(self, customer: dict[str, int], action: int, reward: float) -> None:
        lines = self._lines(customer)
        lines[action + 1] = f"0:{-reward}:{self.pmf[action]} {lines[action + 1]}"
        self.vw.learn(lines)


def one_hot(customer: dict[str, int]) -> np.ndarray:
    parts = [np.eye(len(TRAITS[k]))[i] for k, i in customer.items()]
    return np.concatenate([[1.0], *parts])


class ObpLinTS:
    name = "obp-lints"

    def __init__(self, actions: int, seed: int) -> None:
        from obp.policy import LinTS

        dims = 1 + sum(len(v) for v in TRAITS.values())
        self.policy = LinTS(dim=dims, n_actions=actions, len_list=1, random_state=seed)

    def choose(self, customer: dict[str, int]) -> int:
        return int(self.policy.select_action(one_hot(customer)[None, :])[0])

    def learn(self, customer: dict[str, int], action: int, reward: float) -> None:
        self.policy.update_params(action=action, reward=reward, context=one_hot(customer)[None, :])


class Random:
    name = "random"

    def __init__(self, actions: int, seed: int) -> None:
        self.actions = actions
        self.rng = np.random.default_rng(seed)

    def choose(self, customer: dict[str, int]) -> int:
        return int(self.rng.integers(self.actions))

    def learn(self, customer: dict[str, int], action: int, reward: float) -> None:
        """A random policy learns nothing."""


def obp_unavailable() -> str | None:
    try:
        import obp.policy  # noqa: F401
    except Exception as err:  # ImportError, or a dependency failing at import
        return (
            f"obp cannot be imported: {type(err).__name__}: {err}. `make bench` installs it "
            "(obp 0.5.7 declares Python <3.11 and pins 2022 releases: it is installed "
            "without them, next to the `bench` extra, which holds what it imports)"
        )
    return None


def versions() -> str:
    """The versions the comparison ran with (obp runs outside its declared range)."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("vowpalwabbit", "obp", "torch", "numpy", "scikit-learn"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} absent")
    return f"Python {platform.python_version()}; " + ", ".join(found)


def run(make: Callable[[], object], env: Environment, rounds: int) -> tuple[float, float, float]:
    """(cumulative reward, oracle's expected reward, seconds) for one learner."""
    learner = make()
    total = 0.0
    oracle = 0.0
    started = time.perf_counter()
    for _ in range(rounds):
        customer = env.customer()
        probabilities = env.take_up(customer)
        action = learner.choose(customer)  # type: ignore[attr-defined]
        reward = float(env.rng.random() < probabilities[action])
        learner.learn(customer, action, reward)  # type: ignore[attr-defined]
        total += reward
        oracle += float(probabilities.max())
    return total, oracle, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--actions", type=int, default=10)
    parser.add_argument("--exploration", type=float, default=DEFAULT_EXPLORATION)
    parser.add_argument("--dimensions", type=int, default=DEFAULT_DIMENSIONS)
    args = parser.parse_args()

    learners: dict[str, Callable[[int], object]] = {
        "builtin": lambda seed: Builtin(args.actions, seed, args.exploration, args.dimensions),
        "random": lambda seed: Random(args.actions, seed),
    }
    try:
        import vowpalwabbit  # noqa: F401
    except ImportError as err:
        print(f"vw: not run ({err}); `make bench` installs the `bench` extra")
    else:
        learners["vw-epsilon"] = lambda seed: VowpalWabbit(
            args.actions, seed, "vw-epsilon", "--epsilon 0.05"
        )
        learners["vw-squarecb"] = lambda seed: VowpalWabbit(
            args.actions, seed, "vw-squarecb", "--squarecb"
        )
    reason = obp_unavailable()
    if reason is None:
        learners["obp-lints"] = lambda seed: ObpLinTS(args.actions, seed)
    else:
        print(f"obp-lints: not run. {reason}.")

    results: dict[str, list[float]] = {name: [] for name in learners}
    seconds: dict[str, float] = dict.fromkeys(learners, 0.0)
    oracles = []
    for seed in range(args.seeds):
        for name, make in learners.items():
            env = Environment.draw(args.actions, 1000 + seed)
            total, oracle, spent = run(lambda make=make, seed=seed: make(seed), env, args.rounds)
            results[name].append(total)
            seconds[name] += spent
        oracles.append(oracle)

    print(
        f"{args.rounds} rounds, {args.actions} actions, {len(TRAITS)} categorical traits, "
        f"mean over {args.seeds} seeds; oracle's expected reward {np.mean(oracles):.1f}"
    )
    print(versions())
    print(f"{'learner':<14}{'cumulative reward':>18}{'± sd':>8}{'% of oracle':>13}{'µs/round':>10}")
    for name, totals in results.items():
        mean = float(np.mean(totals))
        spread = float(np.std(totals))
        per_round = seconds[name] / (args.seeds * args.rounds) * 1e6
        share = 100 * mean / float(np.mean(oracles))
        print(f"{name:<14}{mean:>18.1f}{spread:>8.1f}{share:>12.1f}%{per_round:>10.0f}")
    others = [(float(np.mean(v)), k) for k, v in results.items() if k.startswith(("vw", "obp"))]
    builtin = float(np.mean(results["builtin"]))
    if not others:
        return
    best_other = max(others)
    verdict = "meets" if builtin >= best_other[0] else "misses"
    print(
        f"builtin / best of VW and obp ({best_other[1]}) = {builtin / best_other[0]:.3f} "
        f"({verdict} the target >= 1)"
    )
    if not math.isfinite(builtin):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
