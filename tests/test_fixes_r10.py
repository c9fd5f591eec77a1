"""Round-10 leftover faults: the counter a dossier names is a core rule (Config.find_counter), the
queue's current_code reaches the CLI and the staff console, scrypt runs off the event loop, and the
hub's centres.last_seq never goes backwards."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "text,counter_id",
    [
        ("2", 2),
        ("Quầy 2", 2),
        ("  quầy   3 ", 3),
        ("QUẦY 1", 1),
        ("Counter 2", 2),
        ("counter 3", 3),
        ("Quay 1", 1),
        ("quầy 2", 2),
    ],
)
def test_find_counter_is_a_core_rule_by_number_or_name(project_config, text, counter_id):
    assert project_config.find_counter(text).id == counter_id


@pytest.mark.parametrize("text", ["", "   ", "99", "Quầy 99", "Quầy", "Phòng 2", "2a"])
def test_find_counter_names_none(project_config, text):
    assert project_config.find_counter(text) is None


def test_find_counter_lives_only_in_the_core():
    """One rule in one place: the kiosk adapter no longer has its own copy."""
    import kiosk.aloud

    assert not hasattr(kiosk.aloud, "find_counter")
