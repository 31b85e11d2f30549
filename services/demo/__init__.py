"""Demo data that makes a development server worth looking at. Every seeder is idempotent."""

from __future__ import annotations

from services.demo import catalog, media, org_and_people, paperwork, roster_sample


def seed_all() -> list[str]:
    """Run every seeder in order; returns lines to print (logins and where to look)."""
    notes: list[str] = []
    # media runs after the catalogue: it generates the files of the chapters that seeder made.
    for seeder in (
        org_and_people.seed,
        catalog.seed,
        media.seed,
        roster_sample.seed,
        paperwork.seed,
    ):
        notes.extend(seeder())
    return notes
