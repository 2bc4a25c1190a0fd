"""The shipped payer registry: every file loads, and the real-world ones say where they come from."""

from __future__ import annotations

import datetime as dt

import pytest

from packetizer.model import Window
from packetizer.policy import load_registry
from packetizer.resources import payers_dir

REAL_WORLD = {
    "priority-health": Window(90, "calendar", "date_of_service"),
    "priority-health-medicare": None,
    "carelon-pa": Window(45, "calendar", "date_of_service"),
    "hpsj-medi-cal": Window(30, "calendar", "date_of_service"),
    "hometown-health": Window(7, "calendar", "date_of_service"),
    "wyoming-medicaid": None,
}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_every_shipped_payer_file_loads_under_its_own_name(registry):
    files = sorted(p.stem for p in [*payers_dir().glob("*.yaml"), *payers_dir().glob("*.yml")])
    assert sorted(registry.policies) == files
    assert {"demo-commercial", "demo-medicaid-noretro", *REAL_WORLD} <= set(files)


@pytest.mark.parametrize("payer_id, window", sorted(REAL_WORLD.items()))
def test_real_world_policies_carry_their_rule_source_and_the_verify_warning(registry, payer_id, window):
    policy = registry.get(payer_id)
    assert policy.window == window
    assert policy.retro_allowed is (window is not None)
    assert policy.source_title
    assert policy.raw["source"]["url"].startswith("http")
    assert "verify with the payer before relying on this" in policy.notes


def test_the_medi_cal_plan_accepts_only_its_published_reasons(registry):
    policy = registry.get("hpsj-medi-cal")
    assert policy.categories == ("retroactive_eligibility", "eligibility_unverifiable")
    assert policy.source_effective == dt.date(2024, 10, 30)


def test_the_behavioral_health_plan_wants_the_request_by_fax(registry):
    policy = registry.get("carelon-pa")
    assert (policy.channel, policy.follow_up_days) == ("fax", 30)
    assert policy.address.startswith("+1-855-439-2444")


def test_the_demo_no_retro_payer_refuses_retro_requests(registry):
    assert registry.get("demo-medicaid-noretro").retro_allowed is False


def test_an_edited_policy_is_read_again_and_an_unchanged_folder_is_not(tmp_path):
    """This test ensures the registry is read again as soon as a policy file changes (an admin edits it
    while the server runs), is not parsed again while nothing changed, and a broken edit is refused."""
    import shutil

    from packetizer.errors import PolicyError
    from packetizer.resources import payers_dir

    folder = tmp_path / "payers"
    shutil.copytree(payers_dir(), folder)
    first = load_registry(folder)
    assert load_registry(folder) is first                      # nothing changed: the same registry
    path = folder / "demo-commercial.yaml"
    text = path.read_text()
    before = first.get("demo-commercial").name
    path.write_text(text.replace(f"name: {before}", "name: Demo Commercial (renamed)", 1))
    assert load_registry(folder).get("demo-commercial").name == "Demo Commercial (renamed)"
    path.write_text("id: demo-commercial\nname: [unclosed\n")
    with pytest.raises(PolicyError):
        load_registry(folder)
