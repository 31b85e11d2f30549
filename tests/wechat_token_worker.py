"""One worker process of the shared-token test: an app of its own, pointed at the simulator.

    python -m tests.wechat_token_worker SIM_URL GO_FILE CALL

Waits until GO_FILE exists (so that every worker starts at once), then makes one API call
and prints what it got. CALL is ``ticket`` (the cached jsapi_ticket) or ``fresh-ticket``
(a fresh getticket call, which needs a valid access token).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from infra.wechat_client import get_wechat_client
from wxapp import create_app


def main(sim_url: str, go_file: str, call: str) -> None:
    app = create_app(
        {
            "APP_ENV": "test",
            "WECHAT_API_BASE": sim_url,
            "WECHAT_MP_BASE": sim_url,
            "WECHAT_OPEN_BASE": sim_url,
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        client = get_wechat_client()
        print("ready", flush=True)
        deadline = time.monotonic() + 30
        while not Path(go_file).exists():
            if time.monotonic() > deadline:
                raise SystemExit("never told to go")
            time.sleep(0.005)
        if call == "ticket":
            print(client.jsapi.get_jsapi_ticket(), flush=True)
        else:
            print(client.jsapi.get_ticket("jsapi")["ticket"], flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
