"""Infrastructure the services stand on: extensions, Redis, the transaction's after-commit
queue, background jobs, and the WeChat and WeChat Pay clients built from configuration.
Nothing here imports services, handlers or the app factory."""

import os

# openpyxl parses with lxml when lxml is installed (pyHanko needs it), and lxml does not refuse
# entity declarations the way defusedxml does; uploaded spreadsheets are untrusted, so openpyxl
# keeps to the standard parser through defusedxml (``services.spreadsheets.require_defused_xml``
# checks it). This has to happen before openpyxl is first imported.
os.environ.setdefault("OPENPYXL_LXML", "False")
