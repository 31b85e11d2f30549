"""Accounts: learners, identity checks, passwords, text-message codes, staff, units and
districts, rosters."""
