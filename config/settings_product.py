"""The product areas' own settings (accounts, contacts, messaging, campaigns, billing).

``config/settings.py`` imports every name here; it keeps Django's, Celery's and the
libraries' settings and the beat schedule. Every value comes from the environment with a
default that works embedded, and every variable read here is documented in .env.example
(``tests/test_settings.py`` checks).
"""

from config.env import env

# --- Accounts ------------------------------------------------------------------------------
# Failed sign-ins for one account from every address together, within AXES_COOLOFF_TIME, that
# lock it everywhere (accounts.lockout): above the per-address limit, so one person mistyping
# meets that first, while a guesser spread over many addresses is stopped here.
ACCOUNT_LOCKOUT_FAILURE_LIMIT = env.int("ACCOUNT_LOCKOUT_FAILURE_LIMIT", default=20)
# The page warns this long before the idle sign-out, with a "stay signed in" button.
SESSION_IDLE_WARNING_SECONDS = 60

# --- Contacts and their imports ------------------------------------------------------------
# Import limits (later per plan). Uploads are stored encrypted under MEDIA_ROOT/imports/<org>/.
CONTACT_IMPORT_MAX_BYTES = env.int("CONTACT_IMPORT_MAX_BYTES", default=200 * 1024 * 1024)
CONTACT_IMPORT_MAX_ROWS = env.int("CONTACT_IMPORT_MAX_ROWS", default=1_000_000)
# Processes that prepare (normalise, blind-index, encrypt) a big import's rows while the task's
# own process writes them; 0 prepares in-process. Each running import adds these to the worker's.
CONTACT_IMPORT_WORKERS = env.int("CONTACT_IMPORT_WORKERS", default=2)
# An import's runner renews its lease with every committed chunk (and every few seconds of long
# steps); a running import without a beat for this long is taken to be dead and is resumed after
# its last committed chunk by the import sweeper. Must exceed the longest step between beats.
CONTACT_IMPORT_LEASE_SECONDS = env.int("CONTACT_IMPORT_LEASE_SECONDS", default=120)
# A queued import handed to the broker this long ago and still not started is handed again
# (its message was lost); one never handed over (broker down) is handed at the next sweep.
CONTACT_IMPORT_REDISPATCH_SECONDS = env.int("CONTACT_IMPORT_REDISPATCH_SECONDS", default=600)
# Uploads too big for memory are sealed (AES-GCM, a key per upload held in memory only) as they
# stream to FILE_UPLOAD_TEMP_DIR: never a plaintext temporary file (accounts/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "accounts.uploads.EncryptedFileUploadHandler",
]
FILE_UPLOAD_TEMP_DIR = env("FILE_UPLOAD_TEMP_DIR", default=None)
# A contact search is kept server-side (encrypted, in the cache) under a random token that the
# URL carries instead of the typed names or numbers; this long after the search it expires.
CONTACT_SEARCH_TTL_SECONDS = env.int("CONTACT_SEARCH_TTL_SECONDS", default=30 * 60)

# --- Messaging -----------------------------------------------------------------------------
# Sends that the provider answers 429/5xx (or cannot be reached) are retried with exponential
# backoff and jitter: base * 2^(attempt-1) capped at max; 15 attempts ≈ 1-2 hours of outage.
MESSAGING_DISPATCH_MAX_ATTEMPTS = env.int("MESSAGING_DISPATCH_MAX_ATTEMPTS", default=15)
MESSAGING_RETRY_BASE_SECONDS = env.float("MESSAGING_RETRY_BASE_SECONDS", default=5.0)
MESSAGING_RETRY_MAX_SECONDS = env.float("MESSAGING_RETRY_MAX_SECONDS", default=600.0)
# Recipients stored per transaction by queue_messages: short transactions, so a big batch never
# holds the organisation's audit-chain lock long while its inbound webhooks wait.
MESSAGING_QUEUE_CHUNK_SIZE = env.int("MESSAGING_QUEUE_CHUNK_SIZE", default=1000)
# How long a freshly queued message may wait for dispatch to take it (broker down at commit)
# before requeue_stalled_messages hands it over again.
MESSAGING_HANDOFF_LEASE_SECONDS = env.int("MESSAGING_HANDOFF_LEASE_SECONDS", default=600)
# How long after its send slot (or a worker's claim) a message may stay unfinished before it
# counts as stalled (its task was lost) and is requeued.
MESSAGING_SEND_LEASE_SECONDS = env.int("MESSAGING_SEND_LEASE_SECONDS", default=600)
# Messages of one channel whose send slots fall within a second go to a worker together (one
# send_batch task: one lock, load, claim and store statement for all of them), up to this many.
MESSAGING_SEND_BATCH_SIZE = env.int("MESSAGING_SEND_BATCH_SIZE", default=100)

# --- Campaigns -----------------------------------------------------------------------------
# Contacts read (and recipient rows written) per chunk by the audience count and the fan-out:
# memory is one chunk whatever the audience.
CAMPAIGN_CHUNK_SIZE = env.int("CAMPAIGN_CHUNK_SIZE", default=2000)
# Recipients prepared, rendered and handed to messaging's batch path per chunk.
CAMPAIGN_DISPATCH_CHUNK_SIZE = env.int("CAMPAIGN_DISPATCH_CHUNK_SIZE", default=1000)
# A dispatcher run hands on to a fresh task after this long (no worker is held by one campaign).
CAMPAIGN_DISPATCH_RUN_SECONDS = env.float("CAMPAIGN_DISPATCH_RUN_SECONDS", default=30.0)
# While messages are on their way, the dispatcher looks again this often (copies their statuses
# onto the recipients, completes the campaign when nothing is left).
CAMPAIGN_DISPATCH_WATCH_SECONDS = env.float("CAMPAIGN_DISPATCH_WATCH_SECONDS", default=5.0)
# At most this many seconds of the channel's rate are handed to messaging ahead of the sends, so
# a pause or cancel holds the rest within seconds.
CAMPAIGN_DISPATCH_AHEAD_SECONDS = env.float("CAMPAIGN_DISPATCH_AHEAD_SECONDS", default=10.0)
# Longest a dispatcher waits for a deferred recipient's opening in one ETA task.
CAMPAIGN_DISPATCH_MAX_WAIT_SECONDS = env.float("CAMPAIGN_DISPATCH_MAX_WAIT_SECONDS", default=300.0)
# A running campaign whose dispatcher has not beaten for this long is handed on by the sweep.
CAMPAIGN_DISPATCH_STALE_SECONDS = env.int("CAMPAIGN_DISPATCH_STALE_SECONDS", default=120)
# An inbound message within this many days of a campaign message counts as the patient's reply.
CAMPAIGN_REPLY_WINDOW_DAYS = env.int("CAMPAIGN_REPLY_WINDOW_DAYS", default=7)

# --- Billing -------------------------------------------------------------------------------
# The plan a new organisation's trial runs on, and where a trial nobody confirmed ends up.
BILLING_TRIAL_PLAN = env("BILLING_TRIAL_PLAN", default="growth")
BILLING_FALLBACK_PLAN = env("BILLING_FALLBACK_PLAN", default="free")
# Owners and admins are e-mailed once per period when these percentages of the included
# segments are reached; the usage page shows the matching banner.
BILLING_WARNING_THRESHOLDS = (80, 100)
# Who collects payment (billing.gateway.PaymentGateway); manual invoicing is the one built in.
BILLING_GATEWAY = env("BILLING_GATEWAY", default="billing.gateway.ManualInvoicingGateway")
BILLING_PAYMENT_TERMS_DAYS = env.int("BILLING_PAYMENT_TERMS_DAYS", default=30)
BILLING_PAYMENT_INSTRUCTIONS = env(
    "BILLING_PAYMENT_INSTRUCTIONS",
    default="Pay by bank transfer within the payment terms, quoting the statement number.")
BILLING_ISSUER = env("BILLING_ISSUER", default="CareRelay")
# Where the pricing page's "contact us" (Enterprise) writes to.
BILLING_SALES_EMAIL = env("BILLING_SALES_EMAIL", default="sales@carerelay.example")
