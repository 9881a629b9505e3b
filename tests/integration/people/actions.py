"""People's edits between reconciler runs: one at a time, to one of the networks, each
chosen at random (remakes.py: delete and make again; rearrangements.py: retag, associate,
make main, add, put right)."""

from __future__ import annotations

from integration.people import rearrangements, remakes
from integration.people.console import People

EDITS = (
    remakes.delete_subnet,
    remakes.remake_subnet,
    remakes.remake_table,
    remakes.remake_gateway,
    rearrangements.retag,
    rearrangements.associate_private,
    rearrangements.make_main,
    rearrangements.add_own_subnet,
    rearrangements.put_right,
)


def act(people: People) -> None:
    """One edit to one network, both chosen by the people's random source."""
    network = people.rng.choice(people.networks)
    people.rng.choice(EDITS)(people, network)
