"""Message pushes in the exact formats of WeChat's documentation (接收普通消息, 接收事件推送),
with the account's original id and fresh CreateTime/MsgId filled in."""

from __future__ import annotations

import itertools
import time

_ids = itertools.count(int(time.time()) * 1000)


def _fill(template: str, to: str, sender: str, **values) -> str:
    values.setdefault("create_time", int(time.time()))
    values.setdefault("msg_id", next(_ids))
    return template.format(to=to, sender=sender, **values)


TEXT = (
    "<xml>"
    "<ToUserName><![CDATA[{to}]]></ToUserName>"
    "<FromUserName><![CDATA[{sender}]]></FromUserName>"
    "<CreateTime>{create_time}</CreateTime>"
    "<MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[{content}]]></Content>"
    "<MsgId>{msg_id}</MsgId>"
    "<MsgDataId><![CDATA[]]></MsgDataId>"
    "<Idx><![CDATA[]]></Idx>"
    "</xml>"
)

IMAGE = (
    "<xml>"
    "<ToUserName><![CDATA[{to}]]></ToUserName>"
    "<FromUserName><![CDATA[{sender}]]></FromUserName>"
    "<CreateTime>{create_time}</CreateTime>"
    "<MsgType><![CDATA[image]]></MsgType>"
    "<PicUrl><![CDATA[http://mmbiz.qpic.cn/sample.jpg]]></PicUrl>"
    "<MediaId><![CDATA[media_id]]></MediaId>"
    "<MsgId>{msg_id}</MsgId>"
    "</xml>"
)

SUBSCRIBE = (
    "<xml>"
    "<ToUserName><![CDATA[{to}]]></ToUserName>"
    "<FromUserName><![CDATA[{sender}]]></FromUserName>"
    "<CreateTime>{create_time}</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[subscribe]]></Event>"
    "</xml>"
)

UNSUBSCRIBE = SUBSCRIBE.replace("[subscribe]", "[unsubscribe]")

SUBSCRIBE_SCENE = (
    "<xml>"
    "<ToUserName><![CDATA[{to}]]></ToUserName>"
    "<FromUserName><![CDATA[{sender}]]></FromUserName>"
    "<CreateTime>{create_time}</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[subscribe]]></Event>"
    "<EventKey><![CDATA[qrscene_{scene}]]></EventKey>"
    "<Ticket><![CDATA[TICKET]]></Ticket>"
    "</xml>"
)

SCAN = (
    "<xml>"
    "<ToUserName><![CDATA[{to}]]></ToUserName>"
    "<FromUserName><![CDATA[{sender}]]></FromUserName>"
    "<CreateTime>{create_time}</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[SCAN]]></Event>"
    "<EventKey><![CDATA[{scene}]]></EventKey>"
    "<Ticket><![CDATA[TICKET]]></Ticket>"
    "</xml>"
)

CLICK = (
    "<xml>"
    "<ToUserName><![CDATA[{to}]]></ToUserName>"
    "<FromUserName><![CDATA[{sender}]]></FromUserName>"
    "<CreateTime>{create_time}</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[CLICK]]></Event>"
    "<EventKey><![CDATA[{key}]]></EventKey>"
    "</xml>"
)

VIEW = (
    "<xml>"
    "<ToUserName><![CDATA[{to}]]></ToUserName>"
    "<FromUserName><![CDATA[{sender}]]></FromUserName>"
    "<CreateTime>{create_time}</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[VIEW]]></Event>"
    "<EventKey><![CDATA[{url}]]></EventKey>"
    "<MenuId>MENUID</MenuId>"
    "</xml>"
)

LOCATION_EVENT = (
    "<xml>"
    "<ToUserName><![CDATA[{to}]]></ToUserName>"
    "<FromUserName><![CDATA[{sender}]]></FromUserName>"
    "<CreateTime>{create_time}</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[LOCATION]]></Event>"
    "<Latitude>23.137466</Latitude>"
    "<Longitude>113.352425</Longitude>"
    "<Precision>119.385040</Precision>"
    "</xml>"
)

# A message type wechatpy does not know (WeChat adds types over time).
UNKNOWN = (
    "<xml>"
    "<ToUserName><![CDATA[{to}]]></ToUserName>"
    "<FromUserName><![CDATA[{sender}]]></FromUserName>"
    "<CreateTime>{create_time}</CreateTime>"
    "<MsgType><![CDATA[miniprogrampage]]></MsgType>"
    "<Title><![CDATA[title]]></Title>"
    "<MsgId>{msg_id}</MsgId>"
    "</xml>"
)

# The sample of WeChat's message-encryption guide (compatible mode: plaintext and Encrypt),
# for token "spamtest", EncodingAESKey "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" and appid
# "wx2c2769f8efd9abc2".
GUIDE_ACCOUNT = {
    "WECHAT_TOKEN": "spamtest",
    "WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "WECHAT_APPID": "wx2c2769f8efd9abc2",
    "WECHAT_ORIGINAL_ID": "gh_10f6c3c3ac5a",
}
GUIDE_QUERY = {
    "timestamp": "1409735669",
    "nonce": "1320562132",
    "encrypt_type": "aes",
    "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
}
GUIDE_BODY = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
    "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>"
    "<CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId>"
    "<Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QL"
    "vbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8"
    "T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ"
    "6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJv"
    "nhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>"
)


def text(to: str, sender: str, content: str, **values) -> str:
    return _fill(TEXT, to, sender, content=content, **values)


def event(template: str, to: str, sender: str, **values) -> str:
    return _fill(template, to, sender, **values)


# 事件推送：模板消息发送任务完成 (the template message's delivery receipt).
TEMPLATE_SEND_JOB_FINISH = (
    "<xml>"
    "<ToUserName><![CDATA[{to}]]></ToUserName>"
    "<FromUserName><![CDATA[{sender}]]></FromUserName>"
    "<CreateTime>{create_time}</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
    "<MsgID>{wechat_msgid}</MsgID>"
    "<Status><![CDATA[{status}]]></Status>"
    "</xml>"
)
