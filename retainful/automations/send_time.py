"""A step's local send hour (``at_hour``): the functions live in :mod:`retainful.local_time`, shared with the
channels' quiet hours; automation modules import them from here."""
from retainful.local_time import at_local_hour, locale_zone, phone_zone, recipient_zone, region_zone

__all__ = ["at_local_hour", "locale_zone", "phone_zone", "recipient_zone", "region_zone"]
