"""Fixtures for purchase and payment tests: the WeChat Pay simulator on a loopback port,
keys made for the run, and helpers that act like a learner's browser and the payer's phone.

The platform under test is the session's app (its requests run in the test's rolled-back
transaction); the simulator delivers its notifications through a test client of that app
when a test calls ``deliver()`` or ``advance()``. Tests marked ``committed`` get a second,
live platform served on its own port and a simulator that pushes notifications over HTTP
from its own threads.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from infra.extensions import db
from infra.pay_client import forget_clients
from infra.pay_keys import AlipayKeys, PayKeys, PlatformCertificate
from models.orders import Order
from tests import factories
from tests.conftest import csrf_from, submit_form
from tests.wechat_simulator import alipay_simulator_settings, pay_simulator_settings
from wechat_sim import create_sim_app
from wechat_sim.alipay import AlipaySimulator
from wechat_sim.pay import PaySimulator


class Served:
    """A WSGI app on a loopback port, in a thread."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base_url = f"http://127.0.0.1:{self.server.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def simulator_app(app: Flask, keys: PayKeys, alipay_keys: AlipayKeys, **settings) -> Flask:
    return create_sim_app(
        {
            "APPID": app.config["WECHAT_APPID"],
            "WECHAT_PAY_SIM": pay_simulator_settings(app, keys, **settings),
            "ALIPAY_SIM": alipay_simulator_settings(app, alipay_keys),
        }
    )


def point_at_simulator(app: Flask, keys: PayKeys, alipay_keys: AlipayKeys, base_url: str) -> None:
    app.config.update(keys.platform_config())
    app.config["WECHAT_PAY_API_BASE"] = base_url + "/pay"
    app.config["WECHAT_PAY_CASHIER_URL"] = base_url + "/pay/cashier"
    app.config.update(alipay_keys.platform_config())
    app.config["ALIPAY_API_BASE"] = base_url + "/alipay/gateway.do"
    with app.app_context():
        forget_clients()


@pytest.fixture(scope="session")
def _sim_server(
    app: Flask,
    pay_keys: PayKeys,
    alipay_keys: AlipayKeys,
    platform_certificate: PlatformCertificate,
) -> Iterator[Flask]:
    sim_app = simulator_app(
        app,
        pay_keys,
        alipay_keys,
        delivery="manual",
        certificate_private_key=platform_certificate.private_key,
        certificate_serial=platform_certificate.serial,
    )
    served = Served(sim_app)
    point_at_simulator(app, pay_keys, alipay_keys, served.base_url)
    yield sim_app
    served.stop()


@pytest.fixture
def pay_sim(app: Flask, _sim_server: Flask) -> Iterator[PaySimulator]:
    """The simulator, empty, delivering notifications to the app through a test client
    (Alipay's too: they share its queue)."""
    sim: PaySimulator = _sim_server.extensions["wechat_pay_sim"]
    ali: AlipaySimulator = _sim_server.extensions["alipay_sim"]
    sim.reset()
    ali.reset()
    notify_client = app.test_client()

    def post(url: str, headers: dict[str, str], body: str) -> int:
        return notify_client.post(
            urlsplit(url).path, data=body.encode(), headers=headers
        ).status_code

    def post_form(url: str, fields: dict[str, str]) -> tuple[int, str]:
        response = notify_client.post(urlsplit(url).path, data=fields)
        return response.status_code, response.get_data(as_text=True)

    sim.transport = post
    ali.transport = post_form
    yield sim
    sim.reset()
    ali.reset()


@pytest.fixture
def alipay_sim(pay_sim: PaySimulator, _sim_server: Flask) -> AlipaySimulator:
    """Alipay's simulator, empty; ``pay_sim.deliver()`` sends its notifications."""
    return _sim_server.extensions["alipay_sim"]


# --- acting like the learner and the payer -------------------------------------------------


def log_in(client, learner) -> None:
    response = submit_form(
        client, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def buyer(openid: str | None = None):
    """A learner with a bound WeChat (as after logging in inside WeChat)."""
    learner = factories.learner()
    factories.bind_wechat(learner, openid)
    return learner


def place_order(client, plan, **invoice) -> Order:
    response = submit_form(client, f"/h5/plans/{plan.id}/buy", invoice)
    assert response.status_code == 302, response.get_data(as_text=True)
    order_id = int(re.search(r"/h5/pay/(\d+)", response.headers["Location"]).group(1))
    return db.session.get(Order, order_id)


def start_payment(client, order_id: int, **kwargs):
    """Open the pay page and tap 微信支付: the POST that prepays at WeChat Pay. The page
    answers with the signed parameters (or why there is nothing to pay)."""
    page = client.get(f"/h5/pay/{order_id}").get_data(as_text=True)
    if 'name="csrf_token"' not in page:  # nothing offered to pay: post as a crafted request
        page = client.get("/h5/home").get_data(as_text=True)
    return client.post(f"/h5/pay/{order_id}", data={"csrf_token": csrf_from(page)}, **kwargs)


def cashier_link(page_html: str) -> str:
    match = re.search(r'href="([^"]*/pay/cashier\?[^"]*)"', page_html)
    assert match, "no cashier link on the pay page"
    return html.unescape(match.group(1))


def pay_at_cashier(link: str, action: str = "pay") -> requests.Response:
    """What the payer does on the payment sheet (the simulator's cashier, over HTTP)."""
    page = requests.get(link, timeout=5)
    assert page.status_code == 200
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)
    }
    assert "确认支付" in page.text, page.text
    return requests.post(
        link.split("?")[0], data={**fields, "action": action}, allow_redirects=False, timeout=5
    )


def buy_and_pay(client, plan) -> Order:
    """Order, prepay, pay at the cashier; the notification waits in the simulator."""
    order = place_order(client, plan)
    page = start_payment(client, order.id)
    assert page.status_code == 200
    paid = pay_at_cashier(cashier_link(page.get_data(as_text=True)))
    assert paid.status_code == 302
    return order


def reload(order: Order) -> Order:
    db.session.expire_all()
    return db.session.get(Order, order.id)


# --- the live platform for committed tests ---------------------------------------------------


class LivePay:
    """A platform served on a port with real commits, and a simulator that pushes over HTTP."""

    def __init__(
        self, platform: Flask, sim: PaySimulator, base_url: str, alipay: AlipaySimulator
    ) -> None:
        self.platform, self.sim, self.base_url, self.alipay = platform, sim, base_url, alipay
        self.http = requests.Session()

    def log_in(self, learner) -> None:
        page = self.http.get(self.base_url + "/h5/login", timeout=5)
        response = self.http.post(
            self.base_url + "/h5/login",
            data={
                "csrf_token": csrf_from(page.text),
                "account": learner.phone,
                "password": factories.PASSWORD,
            },
            allow_redirects=False,
            timeout=5,
        )
        assert response.status_code == 302

    def order_and_open_cashier(self, plan_id: int) -> tuple[int, str]:
        page = self.http.get(f"{self.base_url}/h5/plans/{plan_id}/buy", timeout=5)
        response = self.http.post(
            f"{self.base_url}/h5/plans/{plan_id}/buy",
            data={"csrf_token": csrf_from(page.text), "invoice_choice": "later"},
            allow_redirects=False,
            timeout=5,
        )
        assert response.status_code == 302, response.text
        order_id = int(re.search(r"/h5/pay/(\d+)", response.headers["Location"]).group(1))
        return order_id, cashier_link(self.start_payment(order_id).text)

    def start_payment(self, order_id: int) -> requests.Response:
        offer = self.http.get(f"{self.base_url}/h5/pay/{order_id}", timeout=10)
        return self.http.post(
            f"{self.base_url}/h5/pay/{order_id}",
            data={"csrf_token": csrf_from(offer.text)},
            timeout=10,
        )

    def wait_for_deliveries(self, out_trade_no: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            deliveries = self.sim.notifications_for(out_trade_no)
            if deliveries and all(d.state in ("delivered", "failed") for d in deliveries):
                return
            time.sleep(0.05)
        raise AssertionError(f"notifications for {out_trade_no} not delivered in {timeout}s")


@pytest.fixture
def live_pay(app: Flask, pay_keys: PayKeys, alipay_keys: AlipayKeys, make_app) -> Iterator[LivePay]:
    sim_app = simulator_app(
        app, pay_keys, alipay_keys, delivery="thread", time_scale=0.001, refund_seconds=1
    )
    sim_served = Served(sim_app)
    platform = make_app({"APP_ENV": "test", "STORAGE_DIR": app.config["STORAGE_DIR"]})
    platform_served = Served(platform)
    platform.config["PUBLIC_BASE_URL"] = platform_served.base_url
    point_at_simulator(platform, pay_keys, alipay_keys, sim_served.base_url)
    sim = sim_app.extensions["wechat_pay_sim"]
    try:
        yield LivePay(platform, sim, platform_served.base_url, sim_app.extensions["alipay_sim"])
    finally:
        sim.stop()
        platform_served.stop()
        sim_served.stop()
        with platform.app_context():
            db.engine.dispose()


def committed_buyer(plan_id: int | None = None):
    """A learner and a plan, committed for a live platform to see."""
    learner = buyer()
    plan = factories.plan(courses=2)
    db.session.commit()
    return learner, plan


def learner_orders(learner_id: int) -> list[Order]:
    return list(db.session.scalars(select(Order).where(Order.buyer_id == learner_id)))


class StaffBrowser:
    """A finance staff member in the console."""

    def __init__(self, client, staff) -> None:
        self.client, self.staff = client, staff

    def refund(self, order: Order, reason: str, seat_id: int | None = None):
        data = {"reason": reason}
        if seat_id is not None:
            data["seat_id"] = str(seat_id)
        return submit_form(
            self.client,
            f"/admin/orders/{order.id}/refund",
            data,
            page=f"/admin/orders/{order.id}",
        )


@pytest.fixture
def staff_client(app: Flask) -> StaffBrowser:
    from models.staff import StaffRole

    staff = factories.staff(StaffRole.FINANCE)
    console = app.test_client()
    response = submit_form(
        console, "/admin/login", {"username": staff.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    return StaffBrowser(console, staff)
