import hashlib
import os
import subprocess
import sys
import time

import pytest
from wechatpy.exceptions import WeChatClientException

from infra.redis_client import get_redis
from infra.wechat_client import get_wechat_client
from services.errors import ValidationError
from services.wechat import jssdk

WORKERS = 6


def run_workers(tmp_path, sim_url: str, call: str) -> list[str]:
    """Start WORKERS processes, let them all call at the same moment, return their answers."""
    go = tmp_path / f"go-{call}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.wechat_token_worker", sim_url, str(go), call],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for _ in range(WORKERS)
    ]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready", process.stderr.read()
        go.touch()
        results = []
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            results.append(out.strip())
        return results
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()


def test_workers_share_one_token_and_one_ticket_and_refresh_once_after_40001(tmp_path, wechat_sim):
    tickets = run_workers(tmp_path, wechat_sim.url, "ticket")
    # Six processes started at once: one token fetch, one ticket fetch, one shared ticket.
    assert wechat_sim.state.token_fetches == 1
    assert len(wechat_sim.state.jsapi_tickets) == 1
    assert set(tickets) == {wechat_sim.state.jsapi_tickets[0]}

    # WeChat stops accepting the token (reset secret, another system fetched one …):
    # every worker meets 40001, and still only one of them fetches a new token.
    wechat_sim.state.revoke_tokens()
    fresh = run_workers(tmp_path, wechat_sim.url, "fresh-ticket")
    assert wechat_sim.state.token_fetches == 2
    assert len(set(fresh)) == WORKERS  # every call went through with the new token


def test_the_token_is_read_from_redis_not_from_the_client_instance(app, wechat_sim):
    client = get_wechat_client()
    client.menu.get()
    assert wechat_sim.state.token_fetches == 1
    # Another worker's client (a fresh instance) uses the same token.
    app.extensions.pop("wechat_client")
    get_wechat_client().menu.get()
    assert wechat_sim.state.token_fetches == 1
    key = f"wechat:{app.config['WECHAT_APPID']}:access_token"
    ttl = get_redis().ttl(key)
    assert 7200 - 300 - 5 < ttl <= 7200 - 300  # refreshed before WeChat's own expiry


def test_an_explicit_token_refresh_fetches_a_new_token(wechat_sim):
    # wechatpy's fetch_access_token means "this one is stale": the cached token is replaced.
    client = get_wechat_client()
    first = client.access_token
    fresh = client.fetch_access_token()["access_token"]
    assert wechat_sim.state.token_fetches == 2
    assert fresh != first
    assert client.access_token == fresh


def test_a_refused_token_is_refreshed_once_and_the_call_retried(wechat_sim):
    client = get_wechat_client()
    client.menu.get()
    wechat_sim.state.revoke_tokens()
    assert client.menu.get() is None  # no menu yet (46003), but the call went through
    assert wechat_sim.state.token_fetches == 2


def test_a_wrong_secret_fails_clearly(app, wechat_sim):
    saved = app.config["WECHAT_SECRET"]
    app.config["WECHAT_SECRET"] = "wrong"
    app.extensions.pop("wechat_client", None)
    try:
        with pytest.raises(WeChatClientException) as caught:
            get_wechat_client().menu.get()
    finally:
        app.config["WECHAT_SECRET"] = saved
    assert caught.value.errcode == 40125


def test_showqrcode_is_fetched_from_the_configured_host(wechat_sim):
    client = get_wechat_client()
    created = client.qrcode.create(
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "unit:X"}}}
    )
    image = client.qrcode.show(created)
    assert image.headers["Content-Type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert client.qrcode.get_url(created).startswith(wechat_sim.url + "/cgi-bin/showqrcode?ticket=")


def test_jssdk_signature_is_over_the_url_without_its_fragment(app, wechat_sim):
    config = jssdk.jssdk_config(
        "http://localhost/h5/plans?page=2#top", timestamp=1414587457, nonce="abc"
    )
    ticket = wechat_sim.state.jsapi_tickets[-1]
    expected = hashlib.sha1(
        f"jsapi_ticket={ticket}&noncestr=abc&timestamp=1414587457&url=http://localhost/h5/plans?page=2".encode()
    ).hexdigest()
    assert config == {
        "appId": app.config["WECHAT_APPID"],
        "timestamp": 1414587457,
        "nonceStr": "abc",
        "signature": expected,
    }
    with pytest.raises(ValidationError):
        jssdk.jssdk_config("https://evil.example/h5/")


def test_jssdk_config_endpoint(client, wechat_sim):
    response = client.get(
        "/wechat/jssdk-config", query_string={"url": "http://localhost/h5/home#x"}
    )
    assert response.status_code == 200
    assert set(response.json) == {"appId", "timestamp", "nonceStr", "signature"}
    refused = client.get("/wechat/jssdk-config", query_string={"url": "https://evil.example/"})
    assert refused.status_code == 400
    assert "本平台" in refused.json["message"]


def test_the_cached_ticket_survives_until_near_its_expiry(wechat_sim):
    client = get_wechat_client()
    first = client.jsapi.get_jsapi_ticket()
    time.sleep(0.01)
    assert client.jsapi.get_jsapi_ticket() == first
    assert len(wechat_sim.state.jsapi_tickets) == 1


# --- stable_token -------------------------------------------------------------------
def test_the_token_comes_from_stable_token_in_its_normal_mode(wechat_sim):
    client = get_wechat_client()
    client.menu.get()
    sim = wechat_sim.state
    assert sim.stable_calls == 1
    assert sim.forced_refreshes == []
    assert client.access_token == sim.stable_token.value
    assert sim.tokens[client.access_token].stable  # not a /cgi-bin/token one


def test_another_systems_forced_refresh_is_picked_up_without_forcing_again(wechat_sim):
    client = get_wechat_client()
    first = client.access_token
    sim = wechat_sim.state
    sim.force_refresh_grace = 0
    sim.stable(force_refresh=True)  # another system holding the same appid forced a refresh
    assert client.menu.get() is None  # 40001, then the normal mode's new token: the call went
    assert client.access_token != first
    assert client.access_token == sim.stable_token.value
    assert len(sim.forced_refreshes) == 1  # only the other system's


def test_a_forced_refresh_only_when_wechat_still_answers_the_refused_token(wechat_sim):
    client = get_wechat_client()
    first = client.access_token
    sim = wechat_sim.state
    sim.refuse_token(first)
    assert client.menu.get() is None  # went through with the forced token
    assert len(sim.forced_refreshes) == 1
    assert client.access_token != first
    assert sim.stable_calls == 3  # first fetch, normal mode answering the same, forced


def test_the_previous_token_works_during_the_grace_after_a_forced_refresh(wechat_sim):
    sim = wechat_sim.state
    old = sim.stable(force_refresh=False).value
    sim.force_refresh_grace = 0.3
    sim.stable(force_refresh=True)
    assert sim.check_token(old) is None
    time.sleep(0.4)
    assert sim.check_token(old)[0] == 40001


def test_forced_refreshes_are_limited_as_wechat_limits_them(wechat_sim):
    client = get_wechat_client()
    sim = wechat_sim.state
    sim.refuse_token(client.access_token)
    client.menu.get()  # one forced refresh
    sim.refuse_token(client.access_token)
    with pytest.raises(WeChatClientException) as caught:
        client.menu.get()  # within 30 s of the last one
    assert caught.value.errcode == 45011
    # Twenty a day: the day's count is refused with WeChat's daily-quota code.
    sim.forced_refreshes[:] = [time.time() - 31] * 20
    with pytest.raises(WeChatClientException) as caught:
        client.menu.get()
    assert caught.value.errcode == 45009
