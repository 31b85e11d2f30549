"""Payments: orders, the WeChat Pay adapter, taking payments in, notifications, refunds,
reconciliation and group purchase."""
