"""Customers: identity matching across devices, contact normalisation, consent with its audit trail, leaving."""
from retainful.customers.consent import opt_out_sms, unsubscribe
from retainful.customers.identity import ContactError, match_customer, normalise_email, normalise_phone

__all__ = ["ContactError", "match_customer", "normalise_email", "normalise_phone", "opt_out_sms", "unsubscribe"]
