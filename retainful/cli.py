"""The ``retainful`` command group: a Flask CLI, so ``retainful db upgrade`` and friends come along."""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from decimal import Decimal
from functools import partial
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from retainful import automations, jobs, shutdown, status, stores, users
from retainful import demo as demo_data
from retainful.channels import CHANNELS
from retainful.database import error_summary
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.messaging.dispatch import providers_for
from retainful.messaging.providers import DISABLED, ProviderConfigError
from retainful.models import Role, Store
from retainful.money import format_amount
from retainful.stores import options as store_options
from retainful.urls import public_urls

log = logging.getLogger(__name__)

DEMO_FILE = "demo-store.json"
DEMO_OWNER_EMAIL = "owner@example.com"
DEMO_DAYS = 90
PASSWORD_ENV = "RETAINFUL_USER_PASSWORD"


def _create_app():
    from retainful import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False, add_default_commands=False,
             load_dotenv=False)
def main() -> None:
    """Retainful: cart recovery service. Every command reads its settings from the environment (see README)."""


def _print_issued(issued: stores.IssuedStore, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"id": issued.store.id, "api_key": issued.api_key,
                               "webhook_secret": issued.webhook_secret, **_plugin_credentials(issued.store)}))
        return
    click.echo(f"store id:       {issued.store.id}")
    click.echo(f"api key:        {issued.api_key}")
    click.echo(f"webhook secret: {issued.webhook_secret}")
    _echo_plugin_credentials(issued.store)
    click.echo("Keep these now: the API key is stored only as a hash and cannot be shown again.")


def _plugin_credentials(store: Store) -> dict[str, str]:
    return {"retainful_app_id": store.retainful_app_id, "retainful_secret_key": store.retainful_secret_key}


def _echo_plugin_credentials(store: Store) -> None:
    click.echo(f"Retainful App ID:     {store.retainful_app_id}")
    click.echo(f"Retainful Secret Key: {store.retainful_secret_key}")


def _store_or_fail(store_id: int) -> Store:
    store = db.session.get(Store, store_id)
    if store is None:
        raise click.ClickException(f"no store with id {store_id}")
    return store


@click.command("create-store")
@click.option("--name", required=True, help="The shop's name, as shoppers see it.")
@click.option("--domain", required=True, help="The shop's domain; recovery links may only lead there.")
@click.option("--timezone", "timezone_", default="UTC", show_default=True, help="IANA time zone, e.g. Europe/Berlin.")
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 code.")
@click.option("--country", default=None, help="ISO 3166 country: the default region for phone numbers.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object {id, api_key, webhook_secret}.")
@with_appcontext
def create_store_command(name, domain, timezone_, currency, country, as_json):
    """Create a store and print its id, API key and webhook secret (shown once)."""
    try:
        issued = stores.create_store(name, domain, timezone=timezone_, currency=currency, country=country)
    except stores.StoreSettingsError as error:
        raise click.BadParameter(str(error)) from None
    _print_issued(issued, as_json)


@click.command("rotate-key")
@click.argument("store_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print {id, api_key} as JSON.")
@with_appcontext
def rotate_key_command(store_id, as_json):
    """Give a store a new API key; the old key stops working at once."""
    api_key = stores.rotate_key(_store_or_fail(store_id))
    _keep_demo_key(store_id, api_key)
    click.echo(json.dumps({"id": store_id, "api_key": api_key}) if as_json else api_key)


@click.command("plugin-credentials")
@click.argument("store_id", type=int)
@click.option("--rotate", is_flag=True, help="Issue a new Secret Key; the plugin must be given it (the App ID stays).")
@click.option("--json", "as_json", is_flag=True, help="Print {id, retainful_app_id, retainful_secret_key} as JSON.")
@with_appcontext
def plugin_credentials_command(store_id, rotate, as_json):
    """Show the App ID and Secret Key for the Retainful WooCommerce plugin's settings, or rotate the secret."""
    store = _store_or_fail(store_id)
    if rotate:
        stores.rotate_plugin_secret(store)
    if as_json:
        click.echo(json.dumps({"id": store.id, **_plugin_credentials(store)}))
    else:
        _echo_plugin_credentials(store)


@click.command("demo-store")
@click.option("--offer-history", is_flag=True,
              help="Offer to load 90 days of demo history into an empty demo store (asks on a terminal, else prints "
                   "the command).")
@with_appcontext
def demo_store_command(offer_history):
    """Create a demo store and its owner if there is no store yet, and print the API key and the login (local setup
    only). The owner's password is generated once and kept beside the key in the instance folder."""
    store = _demo_store()
    if offer_history and store is not None and not demo_data.has_history(store):
        _offer_history(store)


def _demo_store() -> Store | None:
    """Create or show the demo store; None when there is none to show."""
    demo_file = Path(current_app.instance_path) / DEMO_FILE
    if db.session.scalar(sa.select(sa.func.count(Store.id))):
        if demo_file.exists():
            demo = json.loads(demo_file.read_text())
            store = db.session.get(Store, demo["id"])
            if store is None:
                click.echo(f"Demo store {demo['id']} no longer exists; delete {demo_file} and run this again.")
                return None
            demo = _ensure_demo_owner(demo_file, demo, store)
            _print_demo_login(demo)
            if stores.authenticate(demo["api_key"]) is store:
                click.echo(f"Demo store {demo['id']}: API key {demo['api_key']}")
            else:  # rotated in the admin panel, which keeps no copy
                click.echo(f"Demo store {demo['id']}: its API key was rotated, so the saved one no longer works; "
                           f"`retainful rotate-key {demo['id']}` prints a new one (and saves it for this command).")
            return store
        click.echo("Stores exist already; `retainful rotate-key STORE_ID` issues a new key.")
        return None
    issued = stores.create_store("Demo Store", "shop.example.com")
    demo = {"id": issued.store.id, "api_key": issued.api_key, "webhook_secret": issued.webhook_secret}
    demo = _ensure_demo_owner(demo_file, demo, issued.store)
    _print_demo_login(demo)
    click.echo(f"Created demo store {issued.store.id}: API key {issued.api_key}")
    return issued.store


def _interactive() -> bool:
    return sys.stdin.isatty()


def _offer_history(store: Store) -> None:
    """``make run`` on a terminal asks; in a script it says how, and carries on."""
    if not _interactive():
        click.echo(f"To fill it with 90 days of demo history: retainful demo-data {store.id}")
    elif click.confirm("Load 90 days of demo history?", default=False):
        _load_history(store, days=DEMO_DAYS, seed=1, replace=False)


def _load_history(store: Store, days: int, seed: int, replace: bool) -> None:
    """The simulation's own workers log every dispatch round: the progress bar says enough."""
    service_log = logging.getLogger("retainful")
    level = service_log.level
    service_log.setLevel(logging.WARNING)
    try:
        with click.progressbar(length=days, label=f"Simulating {days} days of store {store.id}") as bar:
            made = demo_data.generate(store, days=days, seed=seed, replace=replace,
                                      progress=lambda done: bar.update(done - bar.pos))
    except demo_data.DemoHistoryExists as error:
        raise click.ClickException(f"{error}; --replace deletes them first") from None
    finally:
        service_log.setLevel(level)
    click.echo(", ".join(f"{count} {name.replace('_', ' ')}" for name, count in made.items()))


@click.command("demo-data")
@click.argument("store_id", type=int)
@click.option("--days", default=DEMO_DAYS, show_default=True, type=click.IntRange(2, 730),
              help="How many days of history, ending now; recovery starts halfway.")
@click.option("--seed", default=1, show_default=True, type=int, help="The same seed makes the same history.")
@click.option("--replace", is_flag=True,
              help="Delete the store's carts, customers, orders, messages, coupons and conversations first.")
@with_appcontext
def demo_data_command(store_id, days, seed, replace):
    """Fill a store with realistic demo history: carts, orders, messages, clicks, coupons and conversations over
    DAYS with a weekly rhythm, recovery switched on halfway (local setup and demos only)."""
    _load_history(_store_or_fail(store_id), days=days, seed=seed, replace=replace)


def _ensure_demo_owner(demo_file: Path, demo: dict, store: Store) -> dict:
    """The demo owner exists, may see the demo store, and has the password kept in the demo file."""
    password = demo.get("owner_password")
    user = users.find_user(DEMO_OWNER_EMAIL)
    if user is None:
        password = password or users.generate_password()
        user = users.create_user(DEMO_OWNER_EMAIL, password, Role.OWNER, [store.id])
    elif not password:  # an owner whose password was never kept here: give it one that can be printed
        password = users.generate_password()
        users.set_password(user, password)
    if store not in user.stores:
        user.stores.append(store)
        db.session.commit()
    demo = {**demo, "owner_email": DEMO_OWNER_EMAIL, "owner_password": password}
    _save_demo(demo_file, demo)
    return demo


def _save_demo(demo_file: Path, demo: dict) -> None:
    demo_file.write_text(json.dumps(demo))
    demo_file.chmod(0o600)


def _keep_demo_key(store_id: int, api_key: str) -> None:
    """A new key for the demo store replaces the saved one, so ``demo-store`` (and ``make run``) prints a key that
    works."""
    demo_file = Path(current_app.instance_path) / DEMO_FILE
    demo = json.loads(demo_file.read_text()) if demo_file.exists() else {}
    if demo.get("id") == store_id:
        _save_demo(demo_file, {**demo, "api_key": api_key})


def _print_demo_login(demo: dict) -> None:
    if demo.get("owner_password"):
        admin_url = public_urls(current_app).admin()
        click.echo(f"Demo owner login at {admin_url}: {demo['owner_email']} / {demo['owner_password']}")


@click.command("create-user")
@click.option("--email", required=True, help="The login; matched case-insensitively.")
@click.option("--role", required=True, type=click.Choice(Role.ALL),
              help="admin: every store; owner: their stores, everything; marketer: templates, previews, "
                   "test-sends and reports, read-only elsewhere.")
@click.option("--store", "store_ids", type=int, multiple=True, help="A store this user may see (repeatable).")
@with_appcontext
def create_user_command(email, role, store_ids):
    """Create an admin-panel user. Asks for the password, or reads RETAINFUL_USER_PASSWORD (for scripts)."""
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = users.create_user(email, password, role, store_ids)
    except users.UserError as error:
        raise click.ClickException(str(error)) from None
    scope = "every store" if role == Role.ADMIN else "store " + ", ".join(str(s.id) for s in user.stores)
    click.echo(f"Created {role} {user.email} (user {user.id}) for {scope}.")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@with_appcontext
def serve_command(host, port, threads):
    """Serve the web app with the scheduler in the same process (Ctrl-C stops both)."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from waitress import serve

    app: Flask = current_app._get_current_object()
    _check_providers(app)
    scheduler = jobs.configure(BackgroundScheduler(), app)
    scheduler.start()
    dispatcher = threading.Thread(target=jobs.dispatch_forever, args=(app,), name="dispatch-loop", daemon=True)
    dispatcher.start()
    click.echo(f"Retainful on http://{host}:{port} (scheduler running; Ctrl-C stops both)")
    try:
        serve(app, host=host, port=port, threads=threads, ident="retainful")
    finally:
        shutdown.requested.set()
        scheduler.shutdown(wait=False)
        dispatcher.join(timeout=60)


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every job once and exit (cron-style deployments, tests).")
@with_appcontext
def worker_command(once):
    """Run the scheduler alone: the production process beside the web workers. SIGTERM or Ctrl-C stops it
    gracefully (the sends in flight finish and are recorded, claimed messages not sent are released); a second
    one kills it."""
    app: Flask = current_app._get_current_object()
    _check_providers(app)
    shutdown.on_signals()
    if once:
        for job_id, result in jobs.run_all_once(app).items():
            click.echo(f"{job_id}: {_summary(result)}")
        return
    from apscheduler.schedulers.background import BackgroundScheduler

    click.echo("Retainful worker: scheduler running (SIGTERM or Ctrl-C stops it)")
    scheduler = jobs.configure(BackgroundScheduler(), app)
    scheduler.start()
    try:
        jobs.dispatch_forever(app)
    finally:
        scheduler.shutdown(wait=True)  # a sweep under way finishes its transaction


def _summary(result: object) -> str:
    if isinstance(result, list):
        return f"{len(result)} carts"
    return json.dumps(result, sort_keys=True) if isinstance(result, dict) else str(result)


def _check_providers(app: Flask) -> None:
    """Refuse to start with a provider selected but not configured, instead of failing every send; say which
    channels are disabled (production without their credentials), since their messages will be skipped."""
    try:
        providers = providers_for(app)
    except ProviderConfigError as error:
        raise click.ClickException(str(error)) from None
    for provider in (medium.provider(providers) for medium in CHANNELS.values()):
        if provider.name == DISABLED:
            click.echo(f"Warning: {provider.reason}; its messages are skipped (channel_disabled)", err=True)


@click.group("sequence")
def sequence_group():
    """Show or edit a store's abandoned-cart sequence."""


def _print_sequence(store: Store, as_json: bool) -> None:
    steps = automations.settings_for(store.id, "abandoned_cart").steps
    rows = [{"position": s.position, "delay": automations.format_delay(s.delay_minutes),
             "delay_minutes": s.delay_minutes,
             "email": s.email, "sms": s.sms, "enabled": s.enabled} for s in steps]
    if as_json:
        click.echo(json.dumps({"store_id": store.id, "steps": rows}))
        return
    click.echo("step  delay  email  sms  enabled")
    for row in rows:
        click.echo(f"{row['position']:>4}  {row['delay']:>5}  {'yes' if row['email'] else 'no':>5}  "
                   f"{'yes' if row['sms'] else 'no':>3}  {'yes' if row['enabled'] else 'no':>7}")


@sequence_group.command("show")
@click.argument("store_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def sequence_show(store_id, as_json):
    """The steps: delay after the cart's last activity, channels, on or off."""
    _print_sequence(_store_or_fail(store_id), as_json)


@sequence_group.command("set-step")
@click.argument("store_id", type=int)
@click.argument("position", type=int)
@click.option("--delay", help="After the cart's last activity: 30m, 6h, 2d, 1w.")
@click.option("--email/--no-email", default=None)
@click.option("--sms/--no-sms", default=None)
@click.option("--enable/--disable", "enabled", default=None)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def sequence_set_step(store_id, position, delay, email, sms, enabled, as_json):
    """Change one step; steps stay in delay order."""
    store = _store_or_fail(store_id)
    try:
        automations.update_step(store, position, delay=automations.parse_delay(delay) if delay else None,
                                email=email, sms=sms,
                             enabled=enabled)
    except FieldError as error:
        raise click.BadParameter(error.message, param_hint=f"--{error.field}") from None
    _print_sequence(store, as_json)


@click.command("configure-store")
@click.argument("store_id", type=int)
@click.option("--pause/--resume", "paused", default=None, help="A paused store sends nothing.")
@click.option("--sender-email")
@click.option("--sender-name")
@click.option("--sms-sender", help="Up to 11 letters and digits, or a number.")
@click.option("--postal-address", help="Shown in every email (CAN-SPAM).")
@click.option("--timezone", "timezone_")
@click.option("--abandon-after-minutes", type=int)
@click.option("--retention-days", type=int, help="Carts, and customers who never ordered, are kept this many days.")
@click.option("--customer-retention-days", type=int, help="Customers who have ordered are kept this many days.")
@click.option("--quiet-hours", help="No SMS between these local hours, e.g. 21-8.")
@click.option("--email-cap-hours", type=int, help="One email per customer per this many hours (0: no cap).")
@click.option("--sms-cap-hours", type=int, help="One SMS per customer per this many hours (0: no cap).")
@click.option("--holdout-percent", type=int, help="Share of abandoned carts kept as an unmessaged control group.")
@click.option("--attribution-window-days", type=int, help="Days after the last message an order counts as recovered.")
@click.option("--woo-url", help="The shop's URL, for coupon sync and the order pull.")
@click.option("--woo-consumer-key")
@click.option("--woo-consumer-secret")
@click.option("--persona-name", help='The name replies are signed with, e.g. "Sarah from Acme".')
@click.option("--persona-signature", help="The signature under email replies.")
@click.option("--conversation-pause-hours", type=int,
              help="Hours an open conversation holds the shopper's marketing messages (0: no pause).")
@click.option("--conversation-webhook-url", help="https URL that receives each inbound message (signed).")
@with_appcontext
def configure_store_command(store_id, quiet_hours, timezone_, woo_url, woo_consumer_key, woo_consumer_secret,
                            **options):
    """Change a store's settings."""
    store = _store_or_fail(store_id)
    values = {name: value for name, value in options.items() if value is not None}
    if timezone_:
        values["timezone"] = timezone_
    if quiet_hours:
        match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", quiet_hours)
        if not match:
            raise click.BadParameter("use START-END hours, e.g. 21-8", param_hint="--quiet-hours")
        values["quiet_hours_start"], values["quiet_hours_end"] = int(match.group(1)), int(match.group(2))
    woo = {"woo_url": woo_url, "woo_consumer_key": woo_consumer_key, "woo_consumer_secret": woo_consumer_secret}
    changed = sorted([*values, *(name for name, value in woo.items() if value is not None)])
    try:
        if len(changed) > len(values):  # the admin's check of the connection, saved in one commit with the rest
            store_options.connect_woocommerce(
                store, store.woo_url if woo_url is None else woo_url,
                store.woo_consumer_key if woo_consumer_key is None else woo_consumer_key, woo_consumer_secret,
                commit=False)
        stores.update_settings(store, **values)
    except stores.StoreSettingsError as error:
        db.session.rollback()
        raise click.BadParameter(str(error)) from None
    click.echo(f"store {store.id} updated: " + ", ".join(changed) if changed else "nothing to change")


@click.group("automation")
def automation_group():
    """Show or edit a store's automations (abandoned_cart, next_order, win_back, ...)."""


def _print_automations(store: Store, kind: str | None, as_json: bool) -> None:
    try:
        shown = [automations.describe(store, kind)] if kind else automations.describe_all(store)
    except FieldError as error:
        raise click.BadParameter(error.message, param_hint=error.field.upper()) from None
    if as_json:
        amounts = partial(format_amount, currency=store.currency)  # as the API writes them: "15.00"
        click.echo(json.dumps(shown[0] if kind else {"store_id": store.id, "automations": shown},
                              default=lambda value: amounts(value) if isinstance(value, Decimal) else str(value)))
        return
    for automation in shown:
        click.echo(f"{automation['kind']}: {'on' if automation['enabled'] else 'off'}")
        click.echo("  step  delay  at    channels   coupon         enabled")
        for step in automation["steps"]:
            coupon = step["coupon"]
            rule = "-" if coupon is None else f"{coupon['type']} {coupon['amount'] or ''}".strip()
            hour = "-" if step["at_hour"] is None else f"{step['at_hour']:02d}:00"
            channels = "+".join(step["channels"]) or "-"
            click.echo(f"  {step['position']:>4}  {step['delay']:>5}  {hour:<5} {channels:<10} {rule:<14} "
                       f"{'yes' if step['enabled'] else 'no'}")


@automation_group.command("show")
@click.argument("store_id", type=int)
@click.argument("kind", required=False)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def automation_show(store_id, kind, as_json):
    """Every automation (or one): on or off, and its steps."""
    _print_automations(_store_or_fail(store_id), kind, as_json)


def _switch(store_id: int, kind: str, enabled: bool) -> None:
    store = _store_or_fail(store_id)
    try:
        automations.set_enabled(store, kind, enabled)
    except FieldError as error:
        raise click.BadParameter(error.message, param_hint="KIND") from None
    click.echo(f"store {store.id}: {kind} {'on' if enabled else 'off'}")


def _switch_command(name: str, enabled: bool, summary: str) -> click.Command:
    """``automation enable`` and ``automation disable``: one command each, the same arguments."""
    @automation_group.command(name, help=summary)
    @click.argument("store_id", type=int)
    @click.argument("kind")
    @with_appcontext
    def command(store_id, kind):
        _switch(store_id, kind, enabled)
    return command


automation_enable = _switch_command("enable", True, "Switch an automation on.")
automation_disable = _switch_command(
    "disable", False, "Switch an automation off: nothing new is planned (what is planned still goes out).")


@automation_group.command("set-step")
@click.argument("store_id", type=int)
@click.argument("kind")
@click.argument("position", type=int)
@click.option("--delay", help="After the trigger: 30m, 6h, 2d, 1w.")
@click.option("--at-hour", type=int, help="Send at this hour of the recipient's local day (0-23).")
@click.option("--no-at-hour", is_flag=True, help="Send at the delay itself, at any hour.")
@click.option("--email/--no-email", default=None)
@click.option("--sms/--no-sms", default=None)
@click.option("--enable/--disable", "enabled", default=None)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def automation_set_step(store_id, kind, position, delay, at_hour, no_at_hour, email, sms, enabled, as_json):
    """Change one step of an automation; steps stay in delay order."""
    if at_hour is not None and no_at_hour:
        raise click.BadParameter("give --at-hour H or --no-at-hour, not both", param_hint="--at-hour")
    store = _store_or_fail(store_id)
    hour = {"at_hour": None} if no_at_hour else {"at_hour": at_hour} if at_hour is not None else {}
    try:
        automations.update_step(store, position, kind=kind, delay=automations.parse_delay(delay) if delay else None,
                                email=email, sms=sms, enabled=enabled, **hour)
    except FieldError as error:
        db.session.rollback()
        raise click.BadParameter(error.message, param_hint=f"--{error.field.replace('_', '-')}"
                                 if error.field != "kind" else "KIND") from None
    _print_automations(store, kind, as_json)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object {queue, due_lag_seconds, workers, jobs}.")
@with_appcontext
def status_command(as_json):
    """Queue depth by status, due lag, each worker's last heartbeat, each job's last run and outcome."""
    try:
        snapshot = status.snapshot()
    except sa.exc.SQLAlchemyError as error:
        raise click.ClickException(f"the database could not be read ({error_summary(error)}): is it reachable, and "
                                   "migrated (retainful db upgrade)?") from None
    if as_json:
        click.echo(json.dumps(snapshot))
        return
    for state, channels in snapshot["queue"].items():
        by_channel = "  ".join(f"{channel} {count}" for channel, count in sorted(channels.items()))
        click.echo(f"{state + ':':<11}{sum(channels.values()):>8}  {by_channel}".rstrip())
    click.echo(f"due lag:   {snapshot['due_lag_seconds']:>8.1f} s")
    click.echo("workers (last day):" if snapshot["workers"] else "workers:   none has recorded a heartbeat in a day")
    for worker in snapshot["workers"]:
        click.echo(f"  {worker['worker_id']}  last heartbeat {worker['last_heartbeat']} "
                   f"({worker['age_seconds']:.0f} s ago)")
    click.echo("jobs:" if snapshot["jobs"] else "jobs:      none has run")
    for job in snapshot["jobs"]:
        error = f" ({job['error']})" if job["error"] else ""
        click.echo(f"  {job['job']:<15} {job['outcome']}{error} at {job['last_finished_at']} "
                   f"in {job['duration_seconds']:.3f} s")


COMMANDS = (create_store_command, rotate_key_command, plugin_credentials_command, demo_store_command, demo_data_command,
            create_user_command, configure_store_command, sequence_group, automation_group, serve_command,
            worker_command, status_command)


def register(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
