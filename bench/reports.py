"""Reports benchmark: every report of ``retainful.reports`` against one big store on PostgreSQL.

Run from the repository root::

    .venv/bin/python bench/reports.py [--carts 1000000] [--orders 300000] [--messages 1400000] [--quick]
                                      [--runs 3] [--compare] [--explain]

What it does, in one run (5-10 minutes by default on a 2-core machine, depending on its load; about 1 with
``--quick``):

1. creates a scratch database ``retainful_bench_<random>`` on the PostgreSQL server (``BENCH_DATABASE_URL``, default
   ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), applies the migrations with ``retainful db upgrade`` and
   creates a store with ``retainful create-store --json`` (so it has its default five-step sequence), then sets its
   ``recovery_started_at`` to 60 days ago (before/after has both windows; as on a real store, nothing is messaged,
   held out or recovered before it, so its "before" window has no recovered revenue), a 10% holdout (the holdout
   report has a control group) and a retention longer than the seeded history;
2. seeds 90 days of history with server-side ``INSERT ... SELECT`` over ``generate_series`` (``--chunk`` rows per
   statement, a progress bar per table on stderr), in time order as a live store writes it: customers; carts (~70%
   abandoned, ~60% of those reachable, 10% of those abandoned since the switch-on in the control group; recovered,
   converted, lost, deleted, live); the outbox (each reachable cart abandoned since the switch-on and not held out
   gets its planned rows: email steps 1-5 and the step-1 SMS, ``--messages`` rows in all, at most 6 per cart; mostly
   sent, some skipped/failed, cancelled after an order, scheduled when not due yet; opens and clicks on a fraction;
   sent rows carry a realistic plain-text body, the HTML part is left out because PostgreSQL keeps a real one
   out of line in TOAST, where no report reads) and, on each messaged cart, its first send and click times
   (``messaged_at``, ``clicked_at``, as the dispatcher keeps them); recovery coupons (step 3's 10%,
   minted when its email went out); orders (``--orders`` in all: one per recovered or converted cart, ~15% credited
   to a message, mostly processing/completed with a few refunded/cancelled/failed, some paying with the cart's
   coupon; orders without a cart; orders redeeming next-order coupons) and the next-order coupons the store's
   default rule issues.
   The fast bulk path: the tables' plain (non-constraint) indexes are dropped before a table is seeded and rebuilt
   from their own definitions right after it, so the schema ends exactly as the migrations left it; then
   ``VACUUM ANALYZE``;
3. in-process (``create_app`` on the scratch database, inside an app context) times each report ``--runs`` times
   for the last 30 store-local days (the summary also for 90): best and median in ms, SQL statements per call and
   the slowest statement, PASS/FAIL for the target (median < 1000 ms). A raw ``SELECT count(*) FROM cart WHERE
   store_id = ...`` is timed the same way before and after the reports: the machine is shared and noisy, so every
   figure is printed next to that baseline (and the seeding rates next to a raw bulk insert into an unindexed table);
4. with ``--compare`` it first drops the report indexes of migration 0006 (``REPORT_INDEXES``), times every report
   without them, rebuilds them (timed: what the migration costs on a store this size) and times again, printing
   both; with ``--explain`` it prints ``EXPLAIN (ANALYZE, BUFFERS)`` of every statement slower than ``--explain-ms``.

The exit status is 0 whether or not the targets are met (a report that raises is shown as ERROR); it is non-zero
only when the benchmark itself crashed. The scratch database is dropped even when the run fails (``--keep`` leaves
it for an EXPLAIN session; ``--reuse NAME`` times a kept one again after applying new migrations, and leaves it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is importable
from bench.common import DEFAULT_SERVER, retainful, scratch_database  # noqa: E402


TARGET_MS = 1000.0
HISTORY_DAYS = 90
RECOVERY_STARTED_DAYS_AGO = 60  # the first 30 days of history are before/after's "before" window
REPORT_DAYS = 30
TIMEZONE = "America/New_York"
HOLDOUT_PERCENT = 10

# The indexes migration 0006 adds for the reports (--compare drops them, times the reports, and rebuilds them).
REPORT_INDEXES = ("ix_cart_store_abandoned", "ix_cart_store_created", "ix_message_store_sent", "ix_message_cart_status",
                  "ix_message_clicked", "ix_shop_order_store_placed", "ix_coupon_store_kind_created")
SEEDED_TABLES = ("customer", "cart", "message", "coupon", "shop_order", "coupon_redemption")
# cart.messaged_at / clicked_at from the seeded outbox (what migration 0008 does for an existing store).
FIRST_TIMES_SQL = """
UPDATE cart SET messaged_at = first.messaged_at, clicked_at = first.clicked_at
FROM (SELECT cart_id, min(sent_at) AS messaged_at, min(clicked_at) AS clicked_at FROM message
      WHERE store_id = :store_id AND kind = 'abandoned_cart' AND status = 'sent' GROUP BY cart_id) AS first
WHERE cart.id = first.cart_id
"""

# Shape of the data (fractions), beside the sizes given on the command line.
P_ABANDON = 0.70  # carts that pass the cut-off without an order
P_REACHABLE = 0.60  # carts with an email or phone
P_RECOVERED_SHARE = 0.15  # orders credited to a recovery message
P_CART_ORDER_SHARE = 0.75  # orders that close a cart without credit (converted)
P_NEXT_ORDER_REDEEMED = 0.03  # orders that pay with a next-order coupon (share of all orders)
STEP_DELAYS_MINUTES = (30, 360, 2880, 5760, 10080)  # the default sequence (retainful.automations.abandoned_cart)
COUPON_STEP = 3  # the 2-day step carries the default 10% coupon
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # retainful.coupons.codes
EMAIL_BODY = ("Hi there,\n\nYou left a few things in your cart at Bench Goods. We saved them for you, but we cannot "
              "hold them forever: popular items sell out and prices change.\n\n  Red enamel mug x 2 .......... $25.00"
              "\n  Loose-leaf tea sampler x 1 .... $8.00\n  Stovetop kettle, 1.2 l x 1 .... $39.90\n\n  Subtotal "
              "$72.90\n  Shipping $4.95\n  Total $77.85\n\nComplete your order: {link}\n\nQuestions about sizes, "
              "shipping or returns? Just reply to this email and a real person will answer within one business "
              "day.\n\nThanks for shopping with us,\nThe Bench Goods team\n\n--\nYou are receiving this email "
              "because you started a checkout at bench.example. Unsubscribe: {link}/unsubscribe\nBench Goods, 1 "
              "Bench Street, Testville, TS 00000, USA\n")
SMS_BODY = "Bench Goods: you left 3 items in your cart. Complete your order: {link} Reply STOP to opt out"


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _fmt_int(n: int) -> str:
    return f"{n:,}"


# --------------------------------------------------------------------------------------------------------------------
# Seeding


def coupon_code_sql(seed_expr: str) -> str:
    """SQL for a code like RT-7KQ4-M2XD from an integer: an affine map modulo 31^8 (a bijection, 48271 being prime
    to 31) spelt in the coupon alphabet, so distinct seeds give distinct, random-looking codes."""
    modulus = len(ALPHABET) ** 8
    x = f"((({seed_expr})::bigint * 48271 + 12345) % {modulus})"
    chars = [f"substr('{ALPHABET}', ({x} / {len(ALPHABET) ** k} % {len(ALPHABET)})::int + 1, 1)"
             for k in range(7, -1, -1)]
    return "'RT-' || " + " || ".join(chars[:4]) + " || '-' || " + " || ".join(chars[4:])


CUSTOMER_SQL = """
INSERT INTO customer (id, store_id, external_id, email, phone, first_name, last_name, locale, email_consent,
                      email_consent_at, email_consent_source, sms_consent, sms_consent_at, sms_consent_source,
                      last_seen_at, created_at)
SELECT :base + k, :store_id, CASE WHEN r1 < 0.6 THEN 'c' || k END,
       CASE WHEN r2 < 0.92 THEN 'shopper-' || (:base + k) || '@bench.example' END,
       CASE WHEN r3 < 0.35 THEN '+1555' || lpad(((:base + k) % 10000000)::text, 7, '0') END,
       (ARRAY['Alex', 'Sam', 'Jo', 'Kim', 'Lee', 'Ana', 'Max', 'Eva'])[1 + (k % 8)::int], 'Shopper', 'en_US',
       CASE WHEN r4 < 0.8 THEN true END, CASE WHEN r4 < 0.8 THEN ts END, CASE WHEN r4 < 0.8 THEN 'checkout' END,
       CASE WHEN r3 < 0.35 AND r4 < 0.7 THEN true END, CASE WHEN r3 < 0.35 AND r4 < 0.7 THEN ts END,
       CASE WHEN r3 < 0.35 AND r4 < 0.7 THEN 'checkout' END, ts, ts
FROM (SELECT k, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
             CAST(:start AS timestamptz) + (k - 1 + random()) * :span_s / :n * interval '1 second' AS ts
      FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS k) AS s
"""

# Carts in creation order: created_at grows with the id, as on a live store (so time ranges are id ranges on disk).
CART_SQL = """
INSERT INTO cart (id, store_id, token, customer_id, status, currency, subtotal, total, item_count, recovery_url,
                  reachable, control_group, last_activity_at, abandon_due_at, abandoned_at, lost_due_at, closed_at,
                  created_at)
SELECT :base + g, :store_id, 'bench-' || g,
       CASE WHEN reach THEN :customer_base + 1 + floor(CASE WHEN r_cust < 0.8 THEN (g - 1) ELSE r_cust2 * (g - 1) END
                                                      * :customers / :n)::bigint END,
       status, 'USD', subtotal, subtotal + 4.95, items, 'https://bench.example/cart', reach, control,
       last_activity, CASE WHEN status = 'live' THEN last_activity + interval '15 minutes' END, abandoned_at,
       CASE WHEN abandoned_at IS NOT NULL THEN last_activity + interval '8 days' END,
       CASE status
           WHEN 'recovered' THEN least(abandoned_at + interval '20 minutes' + r_close ^ 3 * interval '7 days',
                                       CAST(:now AS timestamptz) - interval '1 minute')
           WHEN 'converted' THEN least(coalesce(abandoned_at, last_activity) + r_close * interval '14 minutes',
                                       CAST(:now AS timestamptz) - interval '1 second')
           WHEN 'deleted' THEN least(last_activity + interval '1 minute' + r_close * interval '3 days',
                                     CAST(:now AS timestamptz) - interval '1 second')
           WHEN 'lost' THEN last_activity + interval '8 days'
       END,
       created_at
FROM (
    SELECT s1.*, CASE
        WHEN abandoned_at IS NULL THEN CASE
            WHEN r_out < :p_conv_live THEN 'converted'
            WHEN last_activity > CAST(:now AS timestamptz) - interval '15 minutes' THEN 'live'
            ELSE 'deleted' END
        WHEN messaged AND r_out < :p_rec AND last_activity < CAST(:now AS timestamptz) - interval '1 hour'
            THEN 'recovered'
        WHEN r_out < conv_limit THEN 'converted'
        WHEN r_out < conv_limit + 0.02 THEN 'deleted'
        WHEN last_activity + interval '8 days' < CAST(:now AS timestamptz) THEN 'lost'
        ELSE 'abandoned' END AS status
    FROM (
        SELECT s0.*, CASE WHEN messaged THEN :p_rec + :p_conv_ab
                          WHEN reach THEN :p_conv_ctrl ELSE :p_conv_ab END AS conv_limit
        FROM (
            SELECT g, created_at, last_activity, reach, r_cust, r_cust2, r_out, r_close, subtotal, items,
                   CASE WHEN r_ab < :p_abandon AND last_activity + interval '15 minutes' <= CAST(:now AS timestamptz)
                        THEN last_activity + interval '15 minutes' END AS abandoned_at,
                   r_ab < :p_abandon AND reach AND r_ctrl < :holdout AND recovering AS control,
                   r_ab < :p_abandon AND reach AND r_ctrl >= :holdout AND recovering
                       AND last_activity + interval '15 minutes' <= CAST(:now AS timestamptz) AS messaged
            FROM (
                SELECT g, created_at, least(created_at + random() ^ 2 * interval '2 hours',
                                            CAST(:now AS timestamptz) - interval '1 second') AS last_activity,
                       random() < :p_reach AS reach, random() AS r_ab, random() AS r_ctrl, random() AS r_cust,
                       random() AS r_cust2, random() AS r_out, random() AS r_close,
                       round((15 + random() ^ 2 * 285)::numeric, 2) AS subtotal, 1 + floor(random() * 5)::int AS items
                FROM (SELECT g, CAST(:start AS timestamptz) + (g - 1 + random()) * :span_s / :n
                                * interval '1 second' AS created_at
                      FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g) AS t
            ) AS r, LATERAL (SELECT r.last_activity + interval '15 minutes' >= CAST(:started AS timestamptz)
                                    AS recovering) AS switched_on
        ) AS s0
    ) AS s1
) AS s2
"""

MESSAGED_SQL = """
CREATE TABLE bench_messaged AS
SELECT row_number() OVER (ORDER BY id) AS rn, id, customer_id, status, last_activity_at, abandoned_at, closed_at
FROM cart WHERE store_id = :store_id AND abandoned_at >= :started AND reachable AND NOT control_group
"""

# The planned outbox of each messaged cart: slot j 0-4 = email steps 1-5, slot 5 = the step-1 SMS. The number of
# slots per cart (floor(rn*M/R) - floor((rn-1)*M/R), 1..6) makes the total exactly M when M/R is between 1 and 6.
MESSAGE_SQL = """
INSERT INTO message (store_id, cart_id, customer_id, step_id, kind, channel, status, skip_reason, due_at, attempts,
                     provider, provider_message_id, error, link_code, recipient, subject, body_text, sent_at,
                     opened_at, clicked_at, delivered_at, bounced_at, created_at, updated_at)
SELECT :store_id, cart_id, customer_id, step_id, 'abandoned_cart', channel, status,
       CASE WHEN status = 'skipped' THEN CASE WHEN channel = 'email'
           THEN (ARRAY['frequency_cap', 'no_email_consent', 'unsubscribed', 'suppressed'])[1 + floor(r2 * 4)::int]
           ELSE (ARRAY['no_sms_consent', 'sms_opted_out', 'us_sms_window'])[1 + floor(r2 * 3)::int] END END,
       due_at, CASE WHEN status = 'sent' THEN 1 WHEN status = 'failed' THEN 5 ELSE 0 END,
       CASE WHEN status IN ('sent', 'failed') THEN CASE WHEN channel = 'email' THEN 'sendgrid' ELSE 'vonage' END END,
       CASE WHEN status = 'sent' THEN md5(link) END,
       CASE WHEN status = 'failed' THEN 'provider rejected the message (bench)' END,
       CASE WHEN status IN ('sent', 'failed') THEN link END,
       CASE WHEN status IN ('sent', 'failed') THEN CASE WHEN channel = 'email'
           THEN 'shopper-' || customer_id || '@bench.example'
           ELSE '+1555' || lpad((customer_id % 10000000)::text, 7, '0') END END,
       CASE WHEN status IN ('sent', 'failed') AND channel = 'email' THEN 'You left something behind at Bench Goods' END,
       CASE WHEN status IN ('sent', 'failed') THEN replace(CASE WHEN channel = 'email' THEN :email_body
                                                              ELSE :sms_body END, '{link}',
                                                         'https://bench.example/r/' || link) END,
       sent_at,
       CASE WHEN sent_at IS NOT NULL AND channel = 'email' AND r3 < 0.30
            THEN least(sent_at + r4 ^ 2 * interval '2 days', CAST(:now AS timestamptz)) END,
       CASE WHEN sent_at IS NOT NULL AND r5 < CASE WHEN cart_status = 'recovered' THEN 0.35 ELSE 0.06 END
            THEN least(sent_at + interval '1 minute' + r4 ^ 2 * interval '1 day', CAST(:now AS timestamptz)) END,
       CASE WHEN sent_at IS NOT NULL AND r6 < 0.97 THEN sent_at + interval '3 seconds' END,
       CASE WHEN sent_at IS NOT NULL AND channel = 'email' AND r6 >= 0.995 THEN sent_at + interval '5 seconds' END,
       abandoned_at, coalesce(sent_at, least(due_at, CAST(:now AS timestamptz)))
FROM (
    SELECT x.*, CASE WHEN status = 'sent' THEN due_at + r1 * interval '90 seconds' END AS sent_at
    FROM (
        SELECT p.*, CASE
            WHEN cart_status IN ('recovered', 'converted', 'deleted') AND closed_at < due_at THEN 'cancelled'
            WHEN due_at > CAST(:now AS timestamptz) THEN 'scheduled'
            WHEN cart_status = 'recovered' AND j = 0 THEN 'sent'
            WHEN r1 < 0.04 THEN 'skipped'
            WHEN r1 < 0.055 THEN 'failed'
            ELSE 'sent' END AS status
        FROM (
            SELECT mc.id AS cart_id, mc.customer_id, mc.status AS cart_status, mc.closed_at, mc.abandoned_at, j,
                   (CAST(:step_ids AS int[]))[CASE WHEN j < 5 THEN j + 1 ELSE 1 END] AS step_id,
                   CASE WHEN j < 5 THEN 'email' ELSE 'sms' END AS channel,
                   mc.last_activity_at + (CAST(:delays AS int[]))[CASE WHEN j < 5 THEN j + 1 ELSE 1 END]
                                         * interval '1 minute' AS due_at,
                   'b' || mc.id || 'x' || j AS link,
                   random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5, random() AS r6
            FROM bench_messaged AS mc
            CROSS JOIN LATERAL generate_series(0, least(6, greatest(1,
                floor(mc.rn * CAST(:m AS numeric) / :r) - floor((mc.rn - 1) * CAST(:m AS numeric) / :r)))::int - 1) AS j
            WHERE mc.rn BETWEEN :lo AND :hi
            ORDER BY mc.id, j
        ) AS p
    ) AS x
) AS y
"""

RECOVERY_COUPON_SQL = f"""
INSERT INTO coupon (store_id, code, kind, discount_type, amount, currency, expires_at, usage_limit, usage_count,
                    email, customer_id, cart_id, sync_state, sync_attempts, created_at)
SELECT m.store_id, {coupon_code_sql("2 * m.cart_id")}, 'recovery', 'percent', 10, 'USD',
       m.sent_at + interval '48 hours', 1, 0, 'shopper-' || m.customer_id || '@bench.example', m.customer_id,
       m.cart_id, 'not_connected', 0, m.sent_at
FROM message AS m
WHERE m.store_id = :store_id AND m.id BETWEEN :lo AND :hi AND m.step_id = :step_id AND m.channel = 'email'
  AND m.status = 'sent'
ORDER BY m.id
"""

ORDER_STATUS_SQL = """CASE WHEN {r} < 0.025 THEN 'refunded' WHEN {r} < 0.035 THEN 'cancelled'
                           WHEN {r} < 0.04 THEN 'failed' WHEN {r} < 0.45 THEN 'processing' ELSE 'completed' END"""

# One statement per slice of time: the orders of a range of carts (recovered: credited to the last clicked, else the
# last sent message before the order) and the orders without a cart placed in the same stretch, in placed_at order.
ORDER_SQL = f"""
INSERT INTO shop_order (store_id, external_id, cart_id, customer_id, total, currency, status, coupon_codes,
                        attributed_message_id, attribution_rule, placed_at, received_at, updated_at)
SELECT :store_id, external_id, cart_id, customer_id, total, 'USD', status, coupon_codes, attributed_message_id,
       attribution_rule, placed_at, placed_at + interval '2 seconds',
       CASE WHEN status IN ('refunded', 'cancelled') THEN least(placed_at + interval '3 days',
                                                                CAST(:now AS timestamptz)) END
FROM (
    SELECT 'wc-' || c.id AS external_id, c.id AS cart_id,
           coalesce(c.customer_id, :customer_base + 1 + floor(c.r3 * :customers)::bigint) AS customer_id,
           c.total, {ORDER_STATUS_SQL.format(r="c.r")} AS status,
           CASE WHEN c.status = 'recovered' AND cp.code IS NOT NULL AND cp.created_at <= c.closed_at AND c.r2 < 0.6
                THEN json_build_array(cp.code) ELSE CAST('[]' AS json) END AS coupon_codes,
           am.id AS attributed_message_id,
           CASE WHEN am.id IS NULL THEN NULL WHEN am.clicked_at <= c.closed_at THEN 'clicked' ELSE 'last_sent' END
               AS attribution_rule,
           c.closed_at AS placed_at
    -- the draws live in the select list of a derived table: a LATERAL (SELECT random()) with no outer reference
    -- is computed once per statement, not once per row
    FROM (SELECT cart.id, cart.customer_id, cart.total, cart.status, cart.closed_at,
                 random() AS r, random() AS r2, random() AS r3
          FROM cart
          WHERE cart.store_id = :store_id AND cart.id BETWEEN :cart_lo AND :cart_hi
            AND cart.status IN ('recovered', 'converted')) AS c
    LEFT JOIN coupon AS cp ON cp.cart_id = c.id AND cp.kind = 'recovery'
    LEFT JOIN LATERAL (
        SELECT m.id, m.clicked_at FROM message AS m
        WHERE c.status = 'recovered' AND m.cart_id = c.id AND m.status = 'sent' AND m.sent_at <= c.closed_at
        ORDER BY (m.clicked_at IS NOT NULL AND m.clicked_at <= c.closed_at) DESC,
                 CASE WHEN m.clicked_at <= c.closed_at THEN m.clicked_at ELSE m.sent_at END DESC
        LIMIT 1) AS am ON true
    UNION ALL
    SELECT 'wc-o' || k, NULL, CASE WHEN r1 < 0.7 THEN :customer_base + 1 + floor(r2 * :customers)::bigint END,
           round((20 + r3 ^ 2 * 280)::numeric, 2), {ORDER_STATUS_SQL.format(r="r4")}, CAST('[]' AS json), NULL, NULL,
           CAST(:start AS timestamptz) + (k - 1 + r5) * :span_s / :k_total * interval '1 second'
    FROM (SELECT k, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5
          FROM generate_series(CAST(:k_lo AS bigint), CAST(:k_hi AS bigint)) AS k) AS orphan
) AS u
ORDER BY placed_at
"""

NEXT_ORDER_COUPON_SQL = f"""
INSERT INTO coupon (store_id, code, kind, discount_type, amount, currency, expires_at, usage_limit, usage_count,
                    email, customer_id, order_id, sync_state, sync_attempts, created_at)
SELECT o.store_id, {coupon_code_sql("2 * o.id + 1")}, 'next_order', 'percent', 20, 'USD',
       o.placed_at + interval '30 days', 1, 0, 'shopper-' || o.customer_id || '@bench.example', o.customer_id, o.id,
       'not_connected', 0, o.placed_at + interval '5 seconds'
FROM shop_order AS o
WHERE o.store_id = :store_id AND o.id BETWEEN :lo AND :hi AND o.status IN ('processing', 'completed')
  AND o.customer_id IS NOT NULL
ORDER BY o.id
"""

REDEEM_NEXT_ORDER_SQL = f"""
INSERT INTO shop_order (store_id, external_id, cart_id, customer_id, total, currency, status, coupon_codes,
                        placed_at, received_at)
SELECT :store_id, 'wc-n' || cp.id, NULL, cp.customer_id, round((20 + random() ^ 2 * 280)::numeric, 2), 'USD',
       {ORDER_STATUS_SQL.format(r="cp.r")}, json_build_array(cp.code), cp.placed_at, cp.placed_at + interval '2 seconds'
FROM (SELECT sample.*, random() AS r,  -- drawn out here: inside, ORDER BY random() would sort by this very column
             sample.created_at + random() * least(interval '29 days', CAST(:now AS timestamptz) - sample.created_at
                                                                      - interval '1 minute') AS placed_at
      FROM (SELECT c.id, c.code, c.customer_id, c.created_at FROM coupon AS c
            WHERE c.store_id = :store_id AND c.kind = 'next_order'
              AND c.created_at < CAST(:now AS timestamptz) - interval '1 day'
            ORDER BY random() LIMIT :k) AS sample) AS cp
ORDER BY cp.placed_at
"""

REDEMPTION_SQL = """
INSERT INTO coupon_redemption (store_id, coupon_id, order_external_id, email, redeemed_at)
SELECT o.store_id, cp.id, o.external_id, cp.email, o.placed_at
FROM shop_order AS o
JOIN coupon AS cp ON cp.store_id = o.store_id AND cp.code = o.coupon_codes ->> 0
WHERE o.store_id = :store_id AND json_array_length(o.coupon_codes) > 0 AND o.status NOT IN ('cancelled', 'failed')
ORDER BY o.placed_at
"""


@dataclass
class SeedStat:
    table: str
    rows: int = 0
    seconds: float = 0.0
    index_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


class Seeder:
    """Bulk-loads one store's history with server-side SQL, in chunks, a tqdm bar per table."""

    def __init__(self, url: str, store_id: int, args, now: datetime):
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sa.create_engine(url, pool_size=2)
        self.store_id = store_id
        self.args = args
        self.now = now
        self.start = now - timedelta(days=HISTORY_DAYS)
        self.started = now - timedelta(days=RECOVERY_STARTED_DAYS_AGO)  # recovery switched on
        self.span_s = HISTORY_DAYS * 86400.0
        self.chunk = args.chunk
        self.stats: dict[str, SeedStat] = {}
        self.counts: dict[str, int] = {}
        self.notes: list[str] = []

    # -- plumbing

    @contextmanager
    def session(self):
        """One connection for a bulk step: no waiting for the WAL flush at each commit (a scratch database)."""
        with self.engine.connect() as conn:
            conn.execute(self.sa.text("SET synchronous_commit = off"))
            conn.execute(self.sa.text("SET maintenance_work_mem = '256MB'"))
            conn.commit()
            yield conn

    def scalar(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(self.sa.text(sql), params).scalar()

    def id_range(self, table: str) -> tuple[int, int]:
        """(min, max) id of the store's rows in ``table``; (0, 0) when it has none."""
        with self.engine.connect() as conn:
            lo, hi = conn.execute(self.sa.text(f"SELECT min(id), max(id) FROM {table} WHERE store_id = :s"),
                                  {"s": self.store_id}).one()
        return int(lo or 0), int(hi or 0)

    def stat(self, table: str) -> SeedStat:
        return self.stats.setdefault(table, SeedStat(table))

    def bar(self, desc: str, total: int, unit: str = "row"):
        from tqdm import tqdm

        return tqdm(total=total, desc=f"{desc:<18}", unit=unit, unit_scale=True, file=sys.stderr, leave=True,
                    mininterval=0.5, dynamic_ncols=True)

    def run_chunks(self, table: str, sql: str, ranges: list[tuple[int, int]], params: dict, total: int,
                   desc: str | None = None, bar_by_range: bool = False) -> int:
        """Execute ``sql`` once per (lo, hi) range, committing each; returns the rows inserted."""
        stat = self.stat(table)
        inserted = 0
        with self.session() as conn, self.bar(desc or table, total) as bar:
            started = time.perf_counter()
            for lo, hi in ranges:
                result = conn.execute(self.sa.text(sql), {**params, "lo": lo, "hi": hi})
                conn.commit()
                inserted += result.rowcount
                bar.update(hi - lo + 1 if bar_by_range else result.rowcount)
            stat.seconds += time.perf_counter() - started
        stat.rows += inserted
        return inserted

    def ranges(self, lo: int, hi: int, size: int | None = None) -> list[tuple[int, int]]:
        size = size or self.chunk
        return [(a, min(a + size - 1, hi)) for a in range(lo, hi + 1, size)] if hi >= lo else []

    @contextmanager
    def without_plain_indexes(self, table: str):
        """The fast bulk path: drop the table's plain indexes (constraints stay), load, rebuild each from its own
        definition, so the schema ends exactly as the migrations made it."""
        with self.session() as conn:
            defs = conn.execute(self.sa.text(
                "SELECT i.indexname, i.indexdef FROM pg_indexes AS i "
                "WHERE i.schemaname = current_schema() AND i.tablename = :t AND NOT EXISTS ("
                "  SELECT 1 FROM pg_constraint AS c WHERE c.conindid = to_regclass(quote_ident(i.indexname)))"),
                {"t": table}).all()
            for name, _ in defs:
                conn.execute(self.sa.text(f'DROP INDEX "{name}"'))
            conn.commit()
        try:
            yield
        finally:
            started = time.perf_counter()
            with self.session() as conn, self.bar(f"{table} indexes", len(defs), unit="index") as bar:
                for _, definition in defs:
                    conn.execute(self.sa.text(definition))
                    conn.commit()
                    bar.update(1)
                conn.execute(self.sa.text(f"ANALYZE {table}"))  # the next steps' lookups plan on real statistics
                conn.commit()
            self.stat(table).index_seconds += time.perf_counter() - started

    # -- the store's shape

    def base_id(self, table: str) -> int:
        return int(self.scalar(f"SELECT coalesce(max(id), 0) FROM {table}"))

    def sync_sequence(self, table: str) -> None:
        with self.session() as conn:
            conn.execute(self.sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"))
            conn.commit()

    def prepare_store(self) -> list[int]:
        """History long enough for before/after, a control group for the holdout, nothing purged; returns the ids of
        the default sequence's steps 1..5."""
        with self.session() as conn:
            conn.execute(self.sa.text(
                "UPDATE store SET recovery_started_at = :started, created_at = :created, holdout_percent = :holdout, "
                "retention_days = 400 WHERE id = :s"),
                {"started": self.started,
                 "created": self.start - timedelta(days=1), "holdout": HOLDOUT_PERCENT, "s": self.store_id})
            steps = conn.execute(self.sa.text(
                "SELECT step.position, step.id FROM step JOIN sequence ON sequence.id = step.sequence_id "
                "WHERE step.store_id = :s AND sequence.kind = 'abandoned_cart' ORDER BY step.position"),
                {"s": self.store_id}).all()
            conn.commit()
        if [position for position, _ in steps] != [1, 2, 3, 4, 5]:
            raise RuntimeError(f"expected the default five-step sequence, got positions {[p for p, _ in steps]}")
        return [step_id for _, step_id in steps]

    def seed(self) -> None:
        args = self.args
        n_carts, n_orders, n_messages = args.carts, args.orders, args.messages
        step_ids = self.prepare_store()
        common = {"store_id": self.store_id, "now": self.now, "start": self.start, "span_s": self.span_s}

        # Customers: about one per 2.2 carts; reachable carts belong to one, orders to one.
        n_customers = max(1, round(n_carts * 0.45))
        customer_base = self.base_id("customer")
        with self.without_plain_indexes("customer"):
            self.run_chunks("customer", CUSTOMER_SQL, self.ranges(1, n_customers),
                            {**common, "base": customer_base, "n": n_customers}, n_customers)
        self.sync_sequence("customer")

        # Carts. The outcome shares follow from the order count: ~15% of orders recovered, ~75% converting a cart.
        # Only carts abandoned since recovery was switched on are messaged or held out; reachable carts abandoned
        # before convert like the control group, and none is recovered (nothing was sent yet).
        recovering = RECOVERY_STARTED_DAYS_AGO / HISTORY_DAYS
        messaged_expected = n_carts * P_ABANDON * P_REACHABLE * (1 - HOLDOUT_PERCENT / 100) * recovering
        p_rec = min(0.5, P_RECOVERED_SHARE * n_orders / max(1.0, messaged_expected))
        p_conv_ab = 0.04
        p_conv_ctrl = p_conv_ab + 0.5 * p_rec  # the control group orders less: the holdout shows a lift
        reachable_unmessaged = 1 - (1 - HOLDOUT_PERCENT / 100) * recovering
        converted_abandoned = n_carts * P_ABANDON * (P_REACHABLE * (1 - reachable_unmessaged) * p_conv_ab
                                                     + P_REACHABLE * reachable_unmessaged * p_conv_ctrl
                                                     + (1 - P_REACHABLE) * p_conv_ab)
        p_conv_live = min(0.9, max(0.0, (P_CART_ORDER_SHARE * n_orders - converted_abandoned)
                                   / max(1.0, n_carts * (1 - P_ABANDON))))
        cart_base = self.base_id("cart")
        with self.without_plain_indexes("cart"):
            self.run_chunks("cart", CART_SQL, self.ranges(1, n_carts), {
                **common, "base": cart_base, "n": n_carts, "customer_base": customer_base,
                "customers": n_customers, "p_abandon": P_ABANDON, "p_reach": P_REACHABLE,
                "holdout": HOLDOUT_PERCENT / 100, "p_rec": p_rec, "p_conv_ab": p_conv_ab, "p_conv_ctrl": p_conv_ctrl,
                "p_conv_live": p_conv_live, "started": self.started}, n_carts)
        self.sync_sequence("cart")

        # The outbox of every reachable abandoned cart outside the control group.
        with self.session() as conn:
            conn.execute(self.sa.text("DROP TABLE IF EXISTS bench_messaged"))
            conn.execute(self.sa.text(MESSAGED_SQL), {"store_id": self.store_id, "started": self.started})
            conn.execute(self.sa.text("CREATE UNIQUE INDEX ON bench_messaged (rn)"))
            conn.commit()
        messaged = int(self.scalar("SELECT count(*) FROM bench_messaged"))
        if messaged and not messaged <= n_messages <= 6 * messaged:
            self.notes.append(f"--messages {n_messages} is outside 1..6 per messaged cart ({messaged} carts): "
                              "clamped per cart")
        try:
            per_chunk = max(1, int(self.chunk * messaged / max(1, n_messages)))  # ~chunk messages per statement
            with self.without_plain_indexes("message"):
                self.run_chunks("message", MESSAGE_SQL, self.ranges(1, messaged, per_chunk), {
                    **common, "m": n_messages, "r": max(1, messaged), "step_ids": step_ids,
                    "delays": list(STEP_DELAYS_MINUTES), "email_body": EMAIL_BODY, "sms_body": SMS_BODY},
                    min(n_messages, 6 * messaged) if messaged else 0)
        finally:
            with self.session() as conn:
                conn.execute(self.sa.text("DROP TABLE IF EXISTS bench_messaged"))
                conn.commit()

        # Each messaged cart's first send and first click, as the dispatcher and the click handler keep them.
        stat = self.stat("cart")
        with self.without_plain_indexes("cart"), self.session() as conn:
            started = time.perf_counter()
            conn.execute(self.sa.text(FIRST_TIMES_SQL), {"store_id": self.store_id})
            conn.commit()
            stat.seconds += time.perf_counter() - started

        # Recovery coupons: minted when the step-3 email went out.
        lo, hi = self.id_range("message")
        message_ranges = self.ranges(lo, hi, self.chunk * 5) if hi else []
        with self.without_plain_indexes("coupon"):
            self.run_chunks("coupon", RECOVERY_COUPON_SQL, message_ranges,
                            {"store_id": self.store_id, "step_id": step_ids[COUPON_STEP - 1]},
                            hi - lo + 1 if hi else 0, desc="coupon (recovery)", bar_by_range=True)

        # Orders: the carts' orders and the orders without a cart, slice by slice in time order; then next-order
        # coupons for the qualifying ones, and the orders that redeem a sample of them.
        cart_orders = int(self.scalar("SELECT count(*) FROM cart WHERE store_id = :s AND status IN "
                                      "('recovered', 'converted')", s=self.store_id))
        k_redeem = round(P_NEXT_ORDER_REDEEMED * n_orders)
        k_plain = n_orders - cart_orders - k_redeem
        if k_plain < 0:
            self.notes.append(f"{cart_orders} carts ordered: more than --orders {n_orders} allows; no orders "
                              "without a cart")
            k_plain = 0
        slices = self.ranges(cart_base + 1, cart_base + n_carts)
        order_total = cart_orders + k_plain
        stat = self.stat("shop_order")
        with self.without_plain_indexes("shop_order"):
            with self.session() as conn, self.bar("shop_order", order_total + k_redeem) as bar:
                started = time.perf_counter()
                for cart_lo, cart_hi in slices:
                    k_lo = (cart_lo - cart_base - 1) * k_plain // n_carts + 1
                    k_hi = (cart_hi - cart_base) * k_plain // n_carts
                    result = conn.execute(self.sa.text(ORDER_SQL), {
                        **common, "cart_lo": cart_lo, "cart_hi": cart_hi, "k_lo": k_lo, "k_hi": k_hi,
                        "k_total": max(1, k_plain), "customer_base": customer_base, "customers": n_customers})
                    conn.commit()
                    stat.rows += result.rowcount
                    bar.update(result.rowcount)
                stat.seconds += time.perf_counter() - started
                bar.set_description(f"{'shop_order':<18}")
                order_lo, order_hi = (int(v or 0) for v in conn.execute(self.sa.text(
                    "SELECT min(id), max(id) FROM shop_order WHERE store_id = :s"), {"s": self.store_id}).one())
                # next-order coupons (timed under coupon), then the redeeming orders
                coupon_stat = self.stat("coupon")
                started = time.perf_counter()
                for lo_, hi_ in (self.ranges(order_lo, order_hi) if order_hi else []):
                    result = conn.execute(self.sa.text(NEXT_ORDER_COUPON_SQL),
                                          {"store_id": self.store_id, "lo": lo_, "hi": hi_})
                    conn.commit()
                    coupon_stat.rows += result.rowcount
                coupon_stat.seconds += time.perf_counter() - started
                started = time.perf_counter()
                result = conn.execute(self.sa.text(REDEEM_NEXT_ORDER_SQL),
                                      {"store_id": self.store_id, "now": self.now, "k": k_redeem})
                conn.commit()
                stat.rows += result.rowcount
                stat.seconds += time.perf_counter() - started
                bar.update(result.rowcount)

        # Redemptions of both kinds, and the coupons' usage counts.
        stat = self.stat("coupon_redemption")
        with self.session() as conn:
            started = time.perf_counter()
            stat.rows += conn.execute(self.sa.text(REDEMPTION_SQL), {"store_id": self.store_id}).rowcount
            conn.execute(self.sa.text("UPDATE coupon SET usage_count = 1 WHERE id IN "
                                      "(SELECT coupon_id FROM coupon_redemption WHERE store_id = :s)"),
                         {"s": self.store_id})
            conn.commit()
            stat.seconds += time.perf_counter() - started

        self.vacuum_analyze()
        self.count_rows()

    def vacuum_analyze(self) -> None:
        """Fresh statistics and a set visibility map, as autovacuum leaves a live store's tables."""
        started = time.perf_counter()
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, \
                self.bar("VACUUM ANALYZE", len(SEEDED_TABLES), unit="table") as bar:
            conn.execute(self.sa.text("SET maintenance_work_mem = '256MB'"))
            for table in SEEDED_TABLES:
                conn.execute(self.sa.text(f"VACUUM (ANALYZE) {table}"))
                bar.update(1)
        self.stat("VACUUM ANALYZE").seconds = time.perf_counter() - started

    def count_rows(self) -> None:
        s = self.store_id
        self.counts = {
            "carts": self.scalar("SELECT count(*) FROM cart WHERE store_id = :s", s=s),
            "abandoned": self.scalar("SELECT count(*) FROM cart WHERE store_id = :s AND abandoned_at IS NOT NULL", s=s),
            "reachable abandoned": self.scalar("SELECT count(*) FROM cart WHERE store_id = :s AND abandoned_at IS NOT "
                                               "NULL AND reachable", s=s),
            "orders": self.scalar("SELECT count(*) FROM shop_order WHERE store_id = :s", s=s),
            "attributed orders": self.scalar("SELECT count(*) FROM shop_order WHERE store_id = :s AND "
                                             "attributed_message_id IS NOT NULL", s=s),
            "messages": self.scalar("SELECT count(*) FROM message WHERE store_id = :s", s=s),
            "sent messages": self.scalar("SELECT count(*) FROM message WHERE store_id = :s AND status = 'sent'", s=s),
            "coupons": self.scalar("SELECT count(*) FROM coupon WHERE store_id = :s", s=s),
            "redemptions": self.scalar("SELECT count(*) FROM coupon_redemption WHERE store_id = :s", s=s),
        }

    def insert_baseline(self, rows: int = 200_000) -> SeedStat:
        """The raw bulk-insert rate of this server right now: narrow rows into an unindexed table."""
        stat = SeedStat("baseline: raw INSERT ... SELECT generate_series (no indexes)")
        with self.session() as conn:
            conn.execute(self.sa.text("CREATE TABLE bench_baseline (id bigint, at timestamptz, note text)"))
            conn.commit()
            try:
                started = time.perf_counter()
                for lo, hi in self.ranges(1, rows):
                    stat.rows += conn.execute(self.sa.text(
                        "INSERT INTO bench_baseline SELECT g, now(), md5(g::text) FROM generate_series(:lo, :hi) g"),
                        {"lo": lo, "hi": hi}).rowcount
                    conn.commit()
                stat.seconds = time.perf_counter() - started
            finally:
                conn.execute(self.sa.text("DROP TABLE IF EXISTS bench_baseline"))
                conn.commit()
        return stat

    def dispose(self) -> None:
        self.engine.dispose()


# --------------------------------------------------------------------------------------------------------------------
# Timing the reports, in-process


@dataclass
class Timing:
    label: str
    period: str
    runs: list[float] = field(default_factory=list)  # seconds
    statements: int = 0
    slowest_ms: float = 0.0
    error: str | None = None

    @property
    def best_ms(self) -> float:
        return _ms(min(self.runs)) if self.runs else float("nan")

    @property
    def median_ms(self) -> float:
        return _ms(statistics.median(self.runs)) if self.runs else float("nan")

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.runs) and self.median_ms < TARGET_MS


class ReportTimer:
    """Times the report functions inside an app context; records each call's SQL statements and their durations."""

    def __init__(self, url: str, store_id: int, runs: int, explain_ms: float | None):
        import sqlalchemy as sa

        from retainful import create_app
        from retainful.extensions import db

        self.sa, self.db = sa, db
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": False})
        self.ctx = self.app.app_context()
        self.ctx.push()
        self.store_id = store_id
        self.runs = runs
        self.explain_ms = explain_ms
        self.statements: list[list] = []  # [statement, parameters, seconds] of the current call
        self.explained: set[str] = set()
        sa.event.listen(db.engine, "before_cursor_execute", self._before)
        sa.event.listen(db.engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append([statement, parameters, time.perf_counter() - conn.info.pop("bench_started")])

    def close(self) -> None:
        self.sa.event.remove(self.db.engine, "before_cursor_execute", self._before)
        self.sa.event.remove(self.db.engine, "after_cursor_execute", self._after)
        self.db.session.remove()
        self.db.engine.dispose()
        self.ctx.pop()

    def store(self):
        from retainful.models import Store

        return self.db.session.get(Store, self.store_id)

    def cases(self):
        """(label, period label, callable(store) -> result); the period is resolved inside the call."""
        from retainful.reports import (before_after, coupon_report, daily, daily_csv, funnel, holdout,
                                       resolve_period, summary)

        def with_period(fn, days):
            return lambda store: fn(store, resolve_period(store, days=days))

        return [
            ("summary", f"{REPORT_DAYS} d", with_period(summary, REPORT_DAYS)),
            ("summary", f"{HISTORY_DAYS} d", with_period(summary, HISTORY_DAYS)),
            ("funnel", f"{REPORT_DAYS} d", with_period(funnel, REPORT_DAYS)),
            ("coupon_report", f"{REPORT_DAYS} d", with_period(coupon_report, REPORT_DAYS)),
            ("before_after", f"{REPORT_DAYS} d", lambda store: before_after(store, days=REPORT_DAYS)),
            ("holdout", f"{REPORT_DAYS} d", with_period(holdout, REPORT_DAYS)),
            ("daily", f"{REPORT_DAYS} d", with_period(daily, REPORT_DAYS)),
            ("daily_csv", f"{REPORT_DAYS} d", with_period(daily_csv, REPORT_DAYS)),
            ("resolve_period", f"{REPORT_DAYS} d", lambda store: resolve_period(store, days=REPORT_DAYS)),
        ]

    def baseline(self, label: str) -> Timing:
        """The same raw count every time: how fast this machine answers right now."""
        timing = Timing(label, "all")
        sql = self.sa.text("SELECT count(*) FROM cart WHERE store_id = :s")
        for _ in range(self.runs):
            self.db.session.remove()
            started = time.perf_counter()
            self.db.session.execute(sql, {"s": self.store_id}).scalar()
            timing.runs.append(time.perf_counter() - started)
        self.db.session.remove()
        return timing

    def time_all(self, phase: str) -> tuple[list[Timing], dict[str, object]]:
        from tqdm import tqdm

        cases = self.cases()
        timings, results = [], {}
        with tqdm(total=len(cases) * self.runs, desc=f"{'reports ' + phase:<18}", unit="call", file=sys.stderr,
                  leave=True, mininterval=0.5, dynamic_ncols=True) as bar:
            for label, period, call in cases:
                timing = Timing(label, period)
                for _ in range(self.runs):
                    self.db.session.remove()
                    store = self.store()  # the API loads the store for the key check anyway: not timed
                    self.statements = []
                    started = time.perf_counter()
                    try:
                        results[f"{label} {period}"] = call(store)
                    except Exception as error:  # a report that raises is a finding, not a benchmark crash
                        timing.error = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
                        self.db.session.rollback()
                        bar.update(1)
                        break
                    timing.runs.append(time.perf_counter() - started)
                    bar.update(1)
                if timing.error and len(timing.runs) < self.runs:
                    bar.update(self.runs - len(timing.runs) - 1)
                timing.statements = len(self.statements)
                timing.slowest_ms = _ms(max((s[2] for s in self.statements), default=0.0))
                if self.explain_ms is not None and not timing.error:
                    self.explain(f"{label} {period} ({phase})", self.statements)
                timings.append(timing)
        self.db.session.remove()
        return timings, results

    def explain(self, title: str, statements: list[list]) -> None:
        slow = sorted((s for s in statements if _ms(s[2]) >= self.explain_ms), key=lambda s: -s[2])
        for statement, parameters, seconds in slow:
            key = f"{title.split(' (')[0]}|{statement}"
            if key in self.explained:
                continue
            self.explained.add(key)
            with self.db.engine.connect() as conn:
                plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters).scalars().all()
            print(f"\n=== {title}: {_ms(seconds):.0f} ms\n{statement}\n-- parameters: {parameters}\n"
                  + "\n".join(plan), file=sys.stderr)


# --------------------------------------------------------------------------------------------------------------------
# Report indexes (--compare)


def drop_report_indexes(url: str) -> list[str]:
    """Drop migration 0006's indexes; return their definitions for ``rebuild_report_indexes``."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            defs = conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = "
                                        "current_schema() AND indexname = ANY(:names)"),
                                {"names": list(REPORT_INDEXES)}).all()
            for name, _ in defs:
                conn.execute(sa.text(f'DROP INDEX "{name}"'))
        return [definition for _, definition in defs]
    finally:
        engine.dispose()


def rebuild_report_indexes(url: str, definitions: list[str]) -> float:
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        started = time.perf_counter()
        with engine.connect() as conn:
            for definition in definitions:
                conn.execute(sa.text(definition))
            for table in ("cart", "message", "shop_order"):
                conn.execute(sa.text(f"ANALYZE {table}"))
        return time.perf_counter() - started
    finally:
        engine.dispose()


def analyze(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for table in SEEDED_TABLES:
                conn.execute(sa.text(f"ANALYZE {table}"))
    finally:
        engine.dispose()


def server_version(url: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SHOW server_version")).scalar().split()[0]
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------------------------------
# Output


def print_seeding(seeder: Seeder | None, baseline: SeedStat | None, total_s: float) -> None:
    if seeder is None:
        return
    print()
    print(f"seeding ({total_s:.0f} s in all)")
    print(f"{'table':<22}{'rows':>12}{'insert s':>10}{'rows/s':>10}{'index s':>9}{'vs baseline':>13}")
    rows = [baseline] if baseline else []
    rows += [seeder.stats[t] for t in SEEDED_TABLES if t in seeder.stats]
    for stat in rows:
        is_base = stat is baseline
        ratio = f"{stat.rate / baseline.rate:.0%}" if baseline and baseline.rate and not is_base else ""
        name = "baseline (raw insert)" if is_base else stat.table
        print(f"{name:<22}{_fmt_int(stat.rows):>12}{stat.seconds:>10.1f}{stat.rate:>10,.0f}"
              f"{stat.index_seconds:>9.1f}{ratio:>13}")
    vacuum = seeder.stats.get("VACUUM ANALYZE")
    if vacuum:
        print(f"{'VACUUM ANALYZE':<22}{'':>12}{vacuum.seconds:>10.1f}")
    print("  baseline: 200k narrow rows into an unindexed table; table rates are wide rows, constraints kept, "
          "plain indexes rebuilt after (index s)")
    print("data: " + ", ".join(f"{k} {_fmt_int(v)}" for k, v in seeder.counts.items()))
    for note in seeder.notes:
        print(f"note: {note}")


def print_timings(title: str, timings: list[Timing], base_before: Timing, base_after: Timing,
                  before: list[Timing] | None = None) -> None:
    print()
    print(title)
    base_ms = base_before.best_ms
    head = f"{'report':<16}{'period':>7}"
    if before:
        head += f"{'no-idx best':>12}{'no-idx med':>11}"
    head += f"{'best ms':>10}{'median ms':>11}{'x baseline':>11}{'queries':>9}{'slowest q ms':>14}  target"
    print(head)
    for base in (base_before, base_after):
        line = f"{'baseline':<16}{'':>7}"
        if before:
            line += f"{'':>12}{'':>11}"
        print(line + f"{base.best_ms:>10.1f}{base.median_ms:>11.1f}{'1.0':>11}{1:>9}{base.best_ms:>14.1f}  "
                     f"({base.label})")
    for index, timing in enumerate(timings):
        line = f"{timing.label:<16}{timing.period:>7}"
        if before:
            b = before[index]
            line += (f"{'ERROR':>12}{'':>11}" if b.error else f"{b.best_ms:>12.0f}{b.median_ms:>11.0f}")
        if timing.error:
            print(line + f"{'ERROR':>10}{'':>11}{'':>11}{timing.statements:>9}{'':>14}  FAIL  {timing.error}")
            continue
        ratio = timing.best_ms / base_ms if base_ms else 0.0
        print(line + f"{timing.best_ms:>10.1f}{timing.median_ms:>11.1f}{ratio:>11.1f}{timing.statements:>9}"
                     f"{timing.slowest_ms:>14.1f}  {'PASS' if timing.passed else 'FAIL'}")
    if before:
        for b in before:
            if b.error:
                print(f"without the report indexes, {b.label} {b.period}: {b.error}")


def print_figures(results: dict[str, object]) -> None:
    """A few of the reports' own figures, so a reader can see the data is shaped like a real store's."""
    summary = results.get(f"summary {REPORT_DAYS} d")
    if isinstance(summary, dict):
        keys = ("carts_created", "abandoned", "reachable", "messaged", "clicked", "recovered", "recovered_revenue",
                "recovery_rate", "messages_sent")
        print(f"summary {REPORT_DAYS} d: " + ", ".join(f"{k} {summary[k]}" for k in keys))
    funnel = results.get(f"funnel {REPORT_DAYS} d")
    if isinstance(funnel, list):
        print(f"funnel {REPORT_DAYS} d: " + "; ".join(
            f"step {r['step']} {r['channel']}: sent {r['sent']}, recovered {r['recovered']}" for r in funnel))
    holdout = results.get(f"holdout {REPORT_DAYS} d")
    if isinstance(holdout, dict):
        print(f"holdout {REPORT_DAYS} d: messaged {holdout['messaged']['carts']} carts rate "
              f"{holdout['messaged']['rate']}, control {holdout['control']['carts']} rate {holdout['control']['rate']}, "
              f"lift {holdout['lift']} p {holdout['p_value']}")
    coupons = results.get(f"coupon_report {REPORT_DAYS} d")
    if isinstance(coupons, dict):
        print(f"coupons {REPORT_DAYS} d: " + "; ".join(
            f"{kind}: issued {coupons[kind]['issued']}, redeemed {coupons[kind]['redeemed']}, "
            f"orders {coupons[kind]['orders']}"
            for kind in ("recovery", "next_order")))
    before_after = results.get(f"before_after {REPORT_DAYS} d")
    if isinstance(before_after, dict):
        print(f"before_after: window {before_after['window_days']} d, enough_history {before_after['enough_history']}, "
              f"change {json.dumps(before_after.get('change'), default=str)}")


# --------------------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--carts", type=int, default=1_000_000, help="carts to seed (default 1,000,000)")
    parser.add_argument("--orders", type=int, default=300_000, help="orders to seed (default 300,000)")
    parser.add_argument("--messages", type=int, default=1_400_000, help="outbox rows to seed (default 1,400,000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100k carts, 30k orders, 140k messages")
    parser.add_argument("--runs", type=int, default=3, help="calls per report (default 3)")
    parser.add_argument("--chunk", type=int, default=100_000, help="rows per INSERT statement (default 100,000)")
    parser.add_argument("--compare", action="store_true",
                        help="also time every report without migration 0006's indexes (dropped, then rebuilt)")
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN (ANALYZE, BUFFERS) of each statement slower than --explain-ms (stderr)")
    parser.add_argument("--explain-ms", type=float, default=100.0, help="threshold for --explain (default 100)")
    parser.add_argument("--keep", action="store_true", help="leave the scratch database (for EXPLAIN sessions)")
    parser.add_argument("--reuse", metavar="NAME", help="time a database kept with --keep again (no seeding)")
    args = parser.parse_args()
    if args.quick:
        args.carts, args.orders, args.messages = 100_000, 30_000, 140_000
    if min(args.carts, args.orders, args.messages, args.runs, args.chunk) < 1:
        parser.error("--carts, --orders, --messages, --runs and --chunk must be >= 1")

    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so the scratch database is dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    server = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER
    instance = Path(tempfile.mkdtemp(prefix="retainful-bench-"))
    started_all = time.perf_counter()
    try:
        with scratch_database(server, keep=args.keep, reuse=args.reuse) as url:
            env = {**os.environ, "DATABASE_URL": url, "RETAINFUL_INSTANCE_PATH": str(instance),
                   "LOG_LEVEL": "WARNING", "SECRET_KEY": "bench", "PYTHONUNBUFFERED": "1"}
            env.pop("RETAINFUL_ENV", None)
            os.environ.update({k: env[k] for k in ("DATABASE_URL", "RETAINFUL_INSTANCE_PATH", "LOG_LEVEL",
                                                   "SECRET_KEY")})
            os.environ.pop("RETAINFUL_ENV", None)
            name = url.rsplit("/", 1)[-1]
            print(f"scratch database {name}: applying migrations", file=sys.stderr)
            retainful(env, "db", "upgrade")
            seeder = insert_base = None
            seed_started = time.perf_counter()
            if args.reuse:
                import sqlalchemy as sa

                engine = sa.create_engine(url)
                with engine.connect() as conn:
                    store_id = conn.execute(sa.text("SELECT min(id) FROM store WHERE name = 'Bench'")).scalar()
                engine.dispose()
                if store_id is None:
                    raise SystemExit(f"{name} has no Bench store")
                analyze(url)
            else:
                issued = json.loads([line for line in retainful(
                    env, "create-store", "--name", "Bench", "--domain", "bench.example", "--timezone", TIMEZONE,
                    "--json").splitlines() if line.startswith("{")][-1])
                store_id = issued["id"]
                now = datetime.now(timezone.utc)
                seeder = Seeder(url, store_id, args, now)
                try:
                    insert_base = seeder.insert_baseline()
                    seeder.seed()
                finally:
                    seeder.dispose()
            seed_s = time.perf_counter() - seed_started

            before = None
            index_build_s = None
            if args.compare:
                definitions = drop_report_indexes(url)
                missing = sorted(set(REPORT_INDEXES) - {d.split()[2].strip('"') for d in definitions})
                if missing:
                    print(f"note: report indexes not in the schema: {', '.join(missing)}", file=sys.stderr)
                analyze(url)
                timer = ReportTimer(url, store_id, args.runs, args.explain_ms if args.explain else None)
                try:
                    before, _ = timer.time_all("no 0006")
                finally:
                    timer.close()
                index_build_s = rebuild_report_indexes(url, definitions)

            timer = ReportTimer(url, store_id, args.runs, args.explain_ms if args.explain else None)
            try:
                base_before = timer.baseline("SELECT count(*) FROM cart WHERE store_id = ..., before the reports")
                timings, results = timer.time_all("")
                base_after = timer.baseline("the same, after the reports")
            finally:
                timer.close()

            version = server_version(url)
            print_seeding(seeder, insert_base, seed_s)
            if index_build_s is not None:
                print(f"report indexes (migration 0006) built in {index_build_s:.1f} s on this data "
                      f"({', '.join(REPORT_INDEXES)})")
            sizes = (f"{_fmt_int(args.carts)} carts / {_fmt_int(args.orders)} orders / "
                     f"{_fmt_int(args.messages)} messages" if not args.reuse else f"database {name}")
            print_timings(f"reports on PostgreSQL {version}, one store with {sizes} over {HISTORY_DAYS} days, "
                          f"store-local periods ({TIMEZONE}), {args.runs} calls each; target: median < "
                          f"{TARGET_MS:.0f} ms" + ("; 'no-idx': without migration 0006's indexes" if before else ""),
                          timings, base_before, base_after, before)
            print_figures(results)
            passed = sum(t.passed for t in timings)
            print(f"{passed}/{len(timings)} reports under {TARGET_MS:.0f} ms (median); whole run "
                  f"{time.perf_counter() - started_all:.0f} s; load average {os.getloadavg()[0]:.1f} "
                  f"on {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
