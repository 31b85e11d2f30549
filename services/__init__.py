"""Business rules, one module per domain concept. Services flush but never commit."""

import os

# openpyxl parses with lxml whenever lxml is installed (pyHanko, which signs the certificates,
# needs it), and lxml accepts entity declarations that the roster reader must refuse through
# defusedxml. openpyxl reads this once, when it is first imported, which is after this package
# (every reader of spreadsheets is a service); services.spreadsheets refuses to read should it
# ever parse without defusedxml.
os.environ["OPENPYXL_LXML"] = "False"
