"""Every model, imported once so that metadata and migrations see all tables."""

from models.accounts import AccountSource, Gender, Learner, WechatBinding
from models.catalog import Chapter, Course, Plan, PlanKind, Question
from models.certificates import Certificate, CertificateStatus
from models.enrollments import Enrollment, EnrollmentSource, EnrollmentStatus
from models.invoices import (
    Invoice,
    InvoiceStatus,
    InvoiceTitleType,
    RedConfirmStatus,
    ReissueReason,
)
from models.makeup import MakeupApplication, MakeupKind, ReviewStatus
from models.orders import (
    Complaint,
    ComplaintState,
    InvoiceChoice,
    Order,
    OrderKind,
    OrderSeat,
    OrderStatus,
    PayAttempt,
    PayChannel,
    Payment,
    PaymentSource,
    PayNotification,
    PayProvider,
    Refund,
    RefundStatus,
    SeatStatus,
)
from models.org import District, DistrictKind, Unit
from models.privacy import DeletionRequest, DeletionStatus, PrivacyConsent
from models.registry import (
    RegistryAdapter,
    RegistryKind,
    RegistryRecord,
    RegistryStatus,
)
from models.roster import RosterImport, RosterImportStatus
from models.staff import AuditLog, StaffRole, StaffUser
from models.study import ChapterProgress, StudySession
from models.wechat import TemplateMessage, TemplateMessageStatus, WechatFollower, WechatMenu

__all__ = [
    "AccountSource",
    "AuditLog",
    "Certificate",
    "CertificateStatus",
    "Chapter",
    "ChapterProgress",
    "Complaint",
    "ComplaintState",
    "Course",
    "DeletionRequest",
    "DeletionStatus",
    "District",
    "DistrictKind",
    "Enrollment",
    "EnrollmentSource",
    "EnrollmentStatus",
    "Gender",
    "Invoice",
    "InvoiceChoice",
    "InvoiceStatus",
    "InvoiceTitleType",
    "Learner",
    "MakeupApplication",
    "MakeupKind",
    "Order",
    "OrderKind",
    "OrderSeat",
    "OrderStatus",
    "PayAttempt",
    "PayChannel",
    "PayNotification",
    "PayProvider",
    "Payment",
    "PaymentSource",
    "Plan",
    "PlanKind",
    "PrivacyConsent",
    "Question",
    "RedConfirmStatus",
    "Refund",
    "RefundStatus",
    "RegistryAdapter",
    "RegistryKind",
    "RegistryRecord",
    "RegistryStatus",
    "ReissueReason",
    "ReviewStatus",
    "RosterImport",
    "RosterImportStatus",
    "SeatStatus",
    "StaffRole",
    "StaffUser",
    "StudySession",
    "TemplateMessage",
    "TemplateMessageStatus",
    "Unit",
    "WechatBinding",
    "WechatFollower",
    "WechatMenu",
]
