from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, PasswordField, StringField
from wtforms.validators import InputRequired, Length, Optional


def required(label: str) -> InputRequired:
    return InputRequired(message=f"请填写{label}。")


class LoginForm(FlaskForm):
    account = StringField("用户名", validators=[required("身份证号码或手机号码"), Length(max=40)])
    password = PasswordField("密码", validators=[required("密码"), Length(max=64)])
    next = HiddenField()


class RegisterForm(FlaskForm):
    name = StringField("姓名", validators=[required("姓名"), Length(max=40)])
    id_number = StringField("身份证号码", validators=[required("身份证号码"), Length(max=30)])
    phone = StringField("手机号码", validators=[required("手机号码"), Length(max=20)])
    unit_id = IntegerField("工作单位", validators=[Optional()])
    unit_name = StringField("工作单位", validators=[Optional(), Length(max=100)])
    district_id = IntegerField("档案所在区县", validators=[Optional()])
    password = PasswordField("设置密码", validators=[required("密码"), Length(max=64)])
    confirm_password = PasswordField("确认密码", validators=[required("确认密码"), Length(max=64)])
    privacy_consent = BooleanField("同意《个人信息保护说明》")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("当前密码", validators=[required("当前密码"), Length(max=64)])
    new_password = PasswordField("新密码", validators=[required("新密码"), Length(max=64)])
    confirm_password = PasswordField(
        "确认新密码", validators=[required("确认新密码"), Length(max=64)]
    )
    # At a roster account's first login (services.accounts.learners.first_login_steps).
    code = StringField("短信验证码", validators=[Optional(), Length(max=10)])
    privacy_consent = BooleanField("同意《个人信息保护说明》")


class SendCodeForm(FlaskForm):
    pass


class ResetIdentityForm(FlaskForm):
    name = StringField("姓名", validators=[required("姓名"), Length(max=40)])
    id_number = StringField("身份证号码", validators=[required("身份证号码"), Length(max=30)])
    phone = StringField("手机号码", validators=[required("手机号码"), Length(max=20)])


class ResetPasswordForm(FlaskForm):
    code = StringField("短信验证码", validators=[required("短信验证码"), Length(max=10)])
    new_password = PasswordField("新密码", validators=[required("新密码"), Length(max=64)])
    confirm_password = PasswordField(
        "确认新密码", validators=[required("确认新密码"), Length(max=64)]
    )


class PhoneChangeForm(FlaskForm):
    phone = StringField("新手机号码", validators=[required("新手机号码"), Length(max=20)])
    code = StringField("短信验证码", validators=[Optional(), Length(max=10)])


class UnitChangeForm(FlaskForm):
    unit_id = IntegerField("工作单位", validators=[Optional()])
    unit_name = StringField("工作单位", validators=[Optional(), Length(max=100)])
    district_id = IntegerField("档案所在区县", validators=[Optional()])
