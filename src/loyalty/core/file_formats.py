"""The columns of the CSV files the imports read (`loyalty members import`, `loyalty orders import`, `loyalty stores
import`) and the history generator writes: one definition for both sides."""

from __future__ import annotations

MEMBER_COLUMNS = (
    "external_id",
    "name",
    "phone",
    "email",
    "card",
    "gender",
    "birth_date",
    "registered_at",
    "consent_personal_data",
    "consent_email",
    "consent_sms",
)
ORDER_COLUMNS = (
    "order_id",
    "member_external_id",
    "occurred_at",
    "line_id",
    "sku",
    "category",
    "quantity",
    "price",
    "discount",
    "points",
    "channel",
    "store",
)
STORE_COLUMNS = ("store_id", "city", "name")
