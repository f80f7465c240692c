"""Customers: identity matching across devices, contact normalisation, consent with its audit trail."""
from retainful.customers.identity import ContactError, match_customer, normalise_email, normalise_phone

__all__ = ["ContactError", "match_customer", "normalise_email", "normalise_phone"]
