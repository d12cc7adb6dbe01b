"""Golden tests: every sample display of the spec's configuration show commands, produced from
the configuration printed beside it, must come out character for character.

Each case in tests/data/golden/ holds the configuration, the command and the expected output,
copied from the spec (the file's header says from where and what had to be added)."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.cli.session import run_exec
from host.config.loader import config_from_text

GOLDEN = Path(__file__).parent / "data" / "golden"
SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "ios-11.3T-ipsec-feature-guide.txt"


def read_case(path: Path) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("=== "):
            current = line[4:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {k: "".join(v) for k, v in sections.items()}


CASES = sorted(GOLDEN.glob("*.txt"))


def test_every_sample_display_has_a_case():
    names = {p.stem for p in CASES}
    assert names == {"sa_lifetime", "transform_sets", "dynamic_map", "crypto_map_isakmp", "crypto_map_manual"}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_sample_output_reproduced_exactly(path):
    case = read_case(path)
    router, errors = config_from_text(case["config"])
    assert errors == []
    assert run_exec(router, case["command"].strip()) == case["output"]


@pytest.mark.skipif(not SPEC.exists(), reason="the spec is not beside the repository")
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_expected_output_is_the_spec_text(path):
    """The expected outputs are the spec's own text: the command line followed by the output."""
    case = read_case(path)
    spec = SPEC.read_text()
    command = case["command"].strip()
    assert f"{command}\n{case['output']}```" in spec


def _case(name: str) -> tuple[object, str]:
    case = read_case(GOLDEN / f"{name}.txt")
    router, errors = config_from_text(case["config"])
    assert errors == []
    return router, case["output"]


def test_transform_set_tag_shows_that_set_as_in_the_sample():
    router, full = _case("transform_sets")
    blocks = [b if b.endswith("\n") else b + "\n" for b in full.split("\n\n")]
    assert run_exec(router, "show crypto ipsec transform-set tag t100") == blocks[3]
    assert run_exec(router, "show crypto ipsec transform-set tag t2") == blocks[4]
    assert run_exec(router, "show crypto ipsec transform-set tag nosuch") == ""


def test_crypto_map_tag_and_interface_filters():
    router, full = _case("crypto_map_isakmp")
    assert run_exec(router, "show crypto map tag router-alice") == full
    assert run_exec(router, "show crypto map tag other") == ""
    assert run_exec(router, "show crypto map interface Ethernet0") == ""  # not applied there
    # applied to the interface, the same display
    from host.config.loader import load_config

    assert load_config(router, "interface Ethernet0\n crypto map router-alice\n") == []
    assert run_exec(router, "show crypto map interface Ethernet0") == full
    assert run_exec(router, "sh cry map int e0") == full


def test_dynamic_map_tag():
    router, full = _case("dynamic_map")
    assert run_exec(router, "show crypto dynamic-map tag dyn1") == full
    assert run_exec(router, "show crypto dynamic-map tag other") == ""
