"""Forms of the purchase pages. They only read input; the services judge it."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, StringField, TextAreaField
from wtforms.validators import Length

from services.paperwork.invoices import InvoiceRequest


class InvoiceTitleForm(FlaskForm):
    """An invoice's title (personal, or a unit with its credit code) and where it is sent."""

    # Hidden here; 我的发票's own form makes it a choice on the page.
    title_type: Field = HiddenField(default="personal")
    title = StringField(
        "单位名称", validators=[Length(max=100, message="单位名称不能超过100个字。")]
    )
    tax_code = StringField("信用代码", validators=[Length(max=30, message="信用代码应为18位。")])
    email = StringField("接收邮箱", validators=[Length(max=120, message="邮箱地址过长。")])

    def title_request(self) -> InvoiceRequest:
        return InvoiceRequest(
            title_type=self.title_type.data or "",
            email=self.email.data or "",
            title=self.title.data or "",
            tax_code=self.tax_code.data or "",
        )


class InvoiceForm(InvoiceTitleForm):
    """立即申请 (with the invoice title) or 以后申请."""

    invoice_choice = HiddenField(default="later")

    def invoice_request(self) -> InvoiceRequest | None:
        return self.title_request() if self.invoice_choice.data == "now" else None


class OrderConfirmForm(InvoiceForm):
    pass


class GroupCheckForm(FlaskForm):
    id_numbers = TextAreaField("身份证号码")


class GroupOrderForm(InvoiceForm):
    id_numbers = HiddenField()
    title_type = HiddenField(default="unit")
