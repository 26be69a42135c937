"""How long each text may be, declared once: the tables size their columns by these numbers, and the API schemas
and the document readers refuse a longer value at the door, naming its field. A text the ledger stores behind a
prefix (a tier's points carry the source `tier:<id>`, an action's `action.<name>`) is limited to what still fits
the ledger's source column with that prefix. Lengths count characters, as PostgreSQL's varchar does."""

from __future__ import annotations

# Where points come from, in ledger_entries.rule_id and lots.rule_id: a rule id, `tier:<id>`, `action.<name>`,
# `campaign:<id>`, `offer:<id>`, or a fixed name (redemption, return, expiry, adjustment, win_back...).
SOURCE = 64
# Ids a program document gives (rules, tiers, actions) are stored in columns this wide; a rule's id is its source
# as is, while tier ids and action names are held shorter, by their prefixes.
PROGRAM_ID = 64
RULE_ID = SOURCE
TIER_ID = SOURCE - len("tier:")
ACTION_NAME = SOURCE - len("action.")
CAMPAIGN_ID = 48  # within SOURCE with "campaign:" or "offer:" before it
SEGMENT_ID = 64

# Names people read: the program's, a rule's, a tier's, a segment's, a campaign's, a member's.
NAME = 200
CAMPAIGN_DESCRIPTION = 2000
# Any other text in a program document (a privilege, a category a rule names...): generous, but bounded, so a
# document cannot make its readers work through megabytes of one string.
DOCUMENT_TEXT = 2000

# Members
IDENTIFIER = 200  # phone, email, card, external_id
GENDER = 16
CONSENT_SOURCE = 100
REFERRAL_CODE = 16  # the stored, canonical code (8 characters today)
REFERRAL_CODE_TYPED = 32  # as a person typed it, with spaces and dashes that do not count

# Orders, returns, events
KEY = 100  # the ids a caller gives: order, line, return and event ids
# A stored return id: the caller's (at most KEY), or a cancel's, which is the order id and "#cancel".
RETURN_KEY = KEY + len("#cancel")
ACTION_KEY = 200  # an event id, or the key of a grant the program makes itself ("referral:<member>")
SKU = 200
CATEGORY = 100
CHANNEL = 50
STORE = 100
CITY = 100  # a store's city, as the stores registry names it

# Experiments
EXPERIMENT_ID = 64
EXPERIMENT_LIST = 1000  # stores or cities in one group of a split test

# Events and their deliveries
EVENT_KIND = 40
EVENT_KEY = 100
ENDPOINT_ID = 64  # a webhook endpoint's, a trigger's, a template's id
URL = 2000
WEBHOOK_SECRET = 100  # whsec_ and the base64 of 24 to 64 bytes
RESPONSE_EXCERPT = 1000  # the start of a receiver's answer kept in the delivery log

# Jobs
JOB_NAME = 40
WORKER_NAME = 100

# Adjustments
OPERATOR = 100
REASON = 1000

# Access
API_KEY_NAME = 100
IDEMPOTENCY_KEY = 200

# Messages. A template's parts, as written (before rendering): an email subject fits a mail client's line, a text is
# an SMS or the plain-text part of an email, an HTML body is a whole designed email. What a delivery log keeps of a
# failure (the server's reply, the gateway's answer) is bounded too.
MESSAGE_SUBJECT = 200
MESSAGE_TEXT = 2000
MESSAGE_HTML = 100_000
DELIVERY_DETAIL = 1000

# Documents and bodies. Nothing the program accepts nests deeper than a handful of levels; the bound keeps every
# reader (JSON, YAML, the validators) far from Python's recursion limit.
MAX_DEPTH = 32
MAX_DOCUMENT_BYTES = 1024 * 1024  # a program or campaign file


def id_pattern(length: int) -> str:
    """The pattern of the ids the program names things by (rules, tiers, actions, segments, campaigns): lower-case
    letters, digits, '_', '-' and '.', starting with a letter or digit, at most `length` characters."""
    return rf"^[a-z0-9][a-z0-9_.-]{{0,{length - 1}}}$"
