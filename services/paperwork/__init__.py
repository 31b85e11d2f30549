"""Paperwork: certificates and their drawing, invoices, make-up study reviews."""
