import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from infra.extensions import db
from models.wechat import TemplateMessage
from services.errors import ServiceError
from services.wechat import menu, posters, tasks
from services.wechat.followers import Scene

group = AppGroup("wechat", help="The official account: menu, QR posters, template messages.")

# A send that began this long ago and never recorded its answer is not tried again.


@group.command("send-queued")
@click.option(
    "--older-than",
    default=60,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seconds a message waits for its own job before the sweep sends it.",
)
def send_queued(older_than: int) -> None:
    """Send template messages whose job never ran (RQ or Redis was away), and those whose
    last send timed out once their retry is due; run from cron.

    Each message is sent at most once: the job and this sweep lock its row the same way, and
    a send repeated after a worker died carries the same ``client_msg_id``. Paced reminders
    go on within today's allowance."""
    ids = tasks.queued_message_ids(timedelta(seconds=older_than))
    for message_id in ids:
        tasks.send_template_message(message_id)
    outcomes = Counter(
        str(message.status)
        for message in db.session.scalars(
            db.select(TemplateMessage).where(TemplateMessage.id.in_(ids))
        )
    )
    summary = ", ".join(f"{status} {count}" for status, count in sorted(outcomes.items()))
    click.echo(f"{len(ids)} queued template messages sent ({summary or 'none'})")
    paced = tasks.send_queued_messages()
    if paced:
        click.echo(f"{paced} queued reminders sent")


@group.command("menu-push")
def menu_push() -> None:
    """Create the platform's menu on the official account: the one saved in the console, or
    services/wechat/menu.toml's when none is saved."""
    try:
        pushed = menu.push_menu()
    except ServiceError as error:
        raise click.ClickException(error.message) from error
    click.echo(json.dumps(pushed, ensure_ascii=False, indent=2))
    click.echo("菜单已创建（微信客户端最长约 5 分钟后刷新）。")


@group.command("menu-show")
def menu_show() -> None:
    """Print the menu WeChat has now."""
    try:
        current = menu.current_menu()
    except ServiceError as error:
        raise click.ClickException(error.message) from error
    click.echo(
        json.dumps(current, ensure_ascii=False, indent=2) if current else "公众号尚未创建菜单。"
    )


@group.command("qrcode")
@click.argument("scene")
@click.option(
    "--temporary", "days", type=int, default=None, help="temporary code valid for DAYS days (1-30)"
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="where to write the PNG poster (default: STORAGE_DIR/posters/…)",
)
def qrcode_poster(scene: str, days: int | None, output: Path | None) -> None:
    """Create a parametric QR code for SCENE (unit:<code> or plan:<id>) and its poster."""
    parsed = Scene.parse(scene)
    if parsed is None:
        raise click.ClickException("请给出场景值：unit:<单位代码> 或 plan:<培训项目编号>。")
    try:
        text = posters.poster_text(parsed)
        posters.fonts(48)  # before WeChat spends a code on a poster that cannot be drawn
        code = posters.create_qrcode(parsed, days)
        png = posters.render_poster(code, text)
    except ServiceError as error:
        raise click.ClickException(error.message) from error
    if output is None:
        name = str(parsed).replace(":", "-") + ("-temporary" if days else "") + ".png"
        output = Path(current_app.config["STORAGE_DIR"]) / "posters" / name
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(png)
    click.echo(f"场景值：{code.scene}")
    click.echo(f"二维码内容：{code.url}")
    click.echo("有效期：" + (f"至 {code.expires_at_text}" if code.expires_at_text else "永久"))
    click.echo(f"海报：{output}")
