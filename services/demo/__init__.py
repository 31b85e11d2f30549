"""Demo data that makes a development server worth looking at. Every seeder is idempotent."""

from __future__ import annotations

from services.demo import media, org_and_people


def seed_all() -> list[str]:
    """Run every seeder in order; returns lines to print (logins and where to look)."""
    notes: list[str] = []
    # media runs last: it generates the files of the chapters the catalogue seeder made.
    for seeder in (org_and_people.seed, media.seed):
        notes.extend(seeder())
    return notes
