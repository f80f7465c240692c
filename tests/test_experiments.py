"""A/B experiments: the rule and its simulation, stable assignment, the dispatcher's variants, results, the decision
and the applied winner, and the API with hostile input, on both databases."""
import json
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bench.experiments import rate_of, simulate
from retainful import clock, jobs
from retainful.experiments import stats
from retainful.experiments.assignment import assign, bucket
from retainful.extensions import db
from retainful.models import Campaign, Customer, Experiment, Message, Order, TemplateVersion, Variant
from tests.conftest import T0, cart_body
from tests.test_recovery_sequence import at, sent

NUL, SURROGATE = "\u0000", "\ud800"
SUBJECT = {"automation": "abandoned_cart", "step": 1}
B_EMAIL = ('{% extends "layout.html" %}{% block subject %}Variant B for {{ customer.first_name or "you" }}'
           '{% endblock %}{% block content %}<p>Still thinking it over? {{ recovery_url }}</p>{% endblock %}')
B_SMS = "{{ store.name }}: variant B, your cart: {{ recovery_url }} Reply STOP to opt out"


def two_variants(**b):
    return [{"name": "Control", "weight": 1},
            {"name": "B", "weight": 1, "templates": {"email": {"source": B_EMAIL}, **b}}]


def post(shop, body=None, raw=None, headers=None, path="/api/v1/experiments"):
    return shop.client.post(path, data=raw if raw is not None else json.dumps(body),
                            content_type="application/json", headers=shop.headers if headers is None else headers)


def create(shop, **fields):
    body = {"subject": SUBJECT, "variants": two_variants(), **fields}
    answer = post(shop, body)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def get(shop, path):
    return shop.client.get(path, headers=shop.headers)


# -- the rule ---------------------------------------------------------------------------------------------------------

def test_the_rule_waits_for_enough_recipients_and_a_clear_difference():
    clear = [stats.Arm(2000, 40), stats.Arm(2000, 120)]
    assert stats.verdict(clear).winner == 1 and stats.verdict(clear).p_value < 0.05
    assert stats.verdict([stats.Arm(2000, 120), stats.Arm(2000, 40)]).winner == 0  # the control can win
    assert stats.verdict([stats.Arm(99, 0), stats.Arm(99, 60)]).winner is None  # under the minimum
    assert stats.verdict([stats.Arm(2000, 60), stats.Arm(2000, 66)]).winner is None  # noise
    assert stats.verdict([stats.Arm(2000, 60), stats.Arm(2000, 60)]).winner is None  # a tie has no leader
    three = [stats.Arm(3000, 60), stats.Arm(3000, 150), stats.Arm(3000, 140)]
    assert stats.verdict(three).winner is None, "the leader must beat every other variant, not only the control"
    assert stats.verdict(three).threshold == pytest.approx(0.05 / 3)
    assert stats.p_value(stats.Arm(500, 20), stats.Arm(500, 35)) == stats.p_value(stats.Arm(500, 35),
                                                                                  stats.Arm(500, 20))


def test_summaries_are_deterministic_and_say_which_is_likely_best():
    arms = [stats.Arm(1000, 30, 1500.0, 1500.0 * 50, 30), stats.Arm(1000, 60, 3000.0, 3000.0 * 50, 60)]
    first, again = stats.summaries(arms), stats.summaries(arms)
    assert first == again
    assert sum(s.probability_best for s in first) == pytest.approx(1)
    assert first[1].probability_best > 0.99
    low, high = first[0].interval
    assert low < 0.03 < high and high - low < 0.03
    assert first[1].revenue_interval[0] < 3.0 < first[1].revenue_interval[1]


def test_simulated_aa_tests_rarely_declare_a_winner_under_continuous_monitoring_and_the_naive_rule_often_does():
    outcomes = simulate(runs=150, rates=(0.03, 0.03), max_recipients=5000, batch=20, seed=7)
    ours, naive = rate_of(outcomes, "winner"), rate_of(outcomes, "naive_winner")
    assert ours <= 0.05
    assert naive > 3 * max(ours, 0.05)


def test_a_real_lift_is_found():
    outcomes = simulate(runs=40, rates=(0.05, 0.075), max_recipients=12000, batch=50, seed=3)
    assert rate_of(outcomes, "winner", 1) >= 0.8
    assert rate_of(outcomes, "winner", 0) == 0


# -- assignment -------------------------------------------------------------------------------------------------------

def test_assignment_is_stable_and_follows_the_weights():
    variants = [Variant(id=1, position=1, weight=1), Variant(id=2, position=2, weight=3)]
    assert bucket(5, 42) == bucket(5, 42) and 0 <= bucket(5, 42) < 1
    picks = [assign(5, variants, customer).id for customer in range(4000)]
    assert picks == [assign(5, variants, customer).id for customer in range(4000)]
    assert 0.72 < picks.count(2) / 4000 < 0.78
    other = [assign(6, variants, customer).id for customer in range(4000)]
    assert picks != other, "each experiment splits shoppers its own way"


# -- end to end -------------------------------------------------------------------------------------------------------

def variant_of(app, message):
    with app.app_context():
        return db.session.get(Variant, message.variant_id).name if message.variant_id else None


def test_each_shopper_gets_one_variant_on_every_message_and_results_count_them(shop, app):
    experiment = create(shop, variants=two_variants(sms={"source": B_SMS}))
    for n in range(12):
        shop.put_cart(f"c{n}", cart_body(customer={"email": f"s{n}@example.com", "first_name": f"S{n}",
                                                   "email_consent": True, "phone": f"+1212555{n:04d}",
                                                   "sms_consent": True}))
    at(app, timedelta(hours=4))  # T0 is 04:00 in New York: the SMS waits for 08:00
    step1 = sent(app)
    assert len(step1) == 24 and all(m.variant_id for m in step1), "every step-1 email and SMS records its variant"
    by_customer = {}
    for message in step1:
        name = variant_of(app, message)
        by_customer.setdefault(message.customer_id, set()).add(name)
        text = f"{message.subject or ''} {message.body_text}".lower()
        assert ("variant b" in text) == (name == "B"), (name, text)
    assert all(len(names) == 1 for names in by_customer.values()), "email and SMS of one shopper agree"
    assert {name for names in by_customer.values() for name in names} == {"Control", "B"}
    at(app, timedelta(hours=6))
    step2 = [m for m in sent(app) if m.id not in {s.id for s in step1}]
    assert len(step2) == 12 and all(m.variant_id is None for m in step2), "step 2 is not under the experiment"
    read = get(shop, f"/api/v1/experiments/{experiment['id']}").get_json()
    assert [v["name"] for v in read["variants"]] == ["Control", "B"]
    assert sum(v["sent"] for v in read["variants"]) == 12
    assert read["state"] == "running" and read["decision"]["winner"] is None
    listed = get(shop, "/api/v1/experiments").get_json()["experiments"]
    assert [e["id"] for e in listed] == [experiment["id"]]


def seed_results(app, experiment_id, per_variant, orders_by_name):
    """``per_variant`` shoppers sent each variant's step-1 email; ``orders_by_name``: how many of them ordered."""
    with app.app_context():
        experiment = db.session.get(Experiment, experiment_id)
        for variant in experiment.variants:
            for n in range(per_variant):
                customer = Customer(store_id=experiment.store_id, email=f"{variant.name}-{n}@example.com")
                db.session.add(customer)
                db.session.flush()
                message = Message(store_id=experiment.store_id, customer_id=customer.id, kind="abandoned_cart",
                                  channel="email", status="sent", due_at=T0, sent_at=T0, variant_id=variant.id,
                                  dedup_key=f"abandoned_cart:seed:{customer.id}:1:email",
                                  clicked_at=T0 if n < orders_by_name[variant.name] else None)
                db.session.add(message)
                db.session.flush()
                if n < orders_by_name[variant.name]:
                    db.session.add(Order(store_id=experiment.store_id, external_id=f"o-{customer.id}",
                                         customer_id=customer.id, total=Decimal("40.00"), currency="USD",
                                         status="processing", placed_at=T0, credited_message_id=message.id))
        db.session.commit()


def run_experiments_job(app):
    with app.app_context():
        return jobs.evaluate_experiments()


def test_a_clear_winner_is_decided_recorded_and_applied_for_everyone_after(shop, app):
    experiment = create(shop, auto_apply=True)
    seed_results(app, experiment["id"], 600, {"Control": 12, "B": 60})
    assert run_experiments_job(app) == {"decided": 1, "apply_failed": 0}
    read = get(shop, f"/api/v1/experiments/{experiment['id']}").get_json()
    control, b = read["variants"]
    assert (b["sent"], b["orders"], b["clicked"], b["revenue"], b["revenue_per_recipient"]) == (
        600, 60, 60, "2400.00", "4.00")
    assert b["probability_best"] > 0.99 and b["interval"][0] < 0.1 < b["interval"][1]
    assert control["rate"] == 0.02 and b["rate"] == 0.1
    decision = read["decision"]
    assert read["state"] == "decided" and decision["winner"] == "B" and decision["applied"] is True
    assert decision["p_value"] < 0.05 and "mSPRT" in decision["rule"] and decision["decided_at"]
    with app.app_context():
        version = db.session.scalars(sa.select(TemplateVersion).where(
            TemplateVersion.key == "abandoned_cart/step1", TemplateVersion.channel == "email")).one()
        assert version.source == B_EMAIL and version.author == f"experiment:{experiment['id']}"
    clock.freeze(T0 + timedelta(days=1))
    shop.put_cart("after", cart_body(customer={"email": "late@example.com", "email_consent": True}))
    at(app, timedelta(days=1, minutes=30))
    late = [m for m in sent(app) if m.recipient == "late@example.com"]
    assert late and "Variant B" in late[0].subject and late[0].variant_id is None
    assert run_experiments_job(app) == {"decided": 0, "apply_failed": 0}


def test_without_auto_apply_the_decision_waits_for_the_store(shop, app):
    experiment = create(shop)
    seed_results(app, experiment["id"], 600, {"Control": 60, "B": 12})
    run_experiments_job(app)
    read = get(shop, f"/api/v1/experiments/{experiment['id']}").get_json()
    assert read["decision"]["winner"] == "Control" and read["decision"]["applied"] is False
    applied = post(shop, {}, path=f"/api/v1/experiments/{experiment['id']}/apply")
    assert applied.status_code == 200 and applied.get_json()["decision"]["applied"] is True
    with app.app_context():  # the control's templates are the step's own: nothing to write
        assert db.session.scalar(sa.select(sa.func.count(TemplateVersion.id))) == 0


def test_noise_decides_nothing(shop, app):
    experiment = create(shop, auto_apply=True)
    seed_results(app, experiment["id"], 400, {"Control": 12, "B": 14})
    assert run_experiments_job(app)["decided"] == 0
    assert get(shop, f"/api/v1/experiments/{experiment['id']}").get_json()["state"] == "running"


def test_stop_ends_it_and_shoppers_get_the_steps_template(shop, app):
    experiment = create(shop)
    answer = post(shop, {}, path=f"/api/v1/experiments/{experiment['id']}/stop")
    assert answer.status_code == 200 and answer.get_json()["state"] == "stopped"
    again = post(shop, {}, path=f"/api/v1/experiments/{experiment['id']}/stop")
    assert again.status_code == 409 and again.get_json()["error"]["fields"] == {
        "state": ["The experiment is stopped, not running."]}
    shop.put_cart("c", cart_body())
    at(app, timedelta(minutes=30))
    assert all(m.variant_id is None and "Variant B" not in (m.subject or "") for m in sent(app))
    assert post(shop, {}, path=f"/api/v1/experiments/{experiment['id']}/apply").status_code == 409
    create(shop)  # the step is free for a new one


# -- hostile input ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"variants": two_variants()}, "subject"),
    ({"subject": SUBJECT, "variants": two_variants()[:1]}, "variants"),
    ({"subject": SUBJECT, "variants": two_variants() * 3}, "variants"),
    ({"subject": SUBJECT, "variants": "two"}, "variants"),
    ({"subject": {"automation": "abandoned_cart", "step": "1"}, "variants": two_variants()}, "subject.step"),
    ({"subject": {"automation": "abandoned_cart", "step": 9}, "variants": two_variants()}, "subject.step"),
    ({"subject": {"automation": "nope", "step": 1}, "variants": two_variants()}, "subject.automation"),
    ({"subject": {"automation": "conversation_reply", "step": 1}, "variants": two_variants()},
     "subject.automation"),
    ({"subject": SUBJECT, "variants": two_variants(), "metric": "revenue"}, "metric"),
    ({"subject": SUBJECT, "variants": two_variants(), "auto_apply": "yes"}, "auto_apply"),
    ({"subject": SUBJECT, "variants": [{"name": "A", "weight": 0}, {"name": "B"}]}, "variants.0.weight"),
    ({"subject": SUBJECT, "variants": [{"name": "A", "weight": 1.5}, {"name": "B"}]}, "variants.0.weight"),
    ({"subject": SUBJECT, "variants": [{"name": "A"}, {"name": "a "}]}, "variants.1.name"),
    ({"subject": SUBJECT, "variants": [{"name": "A"}, {"name": "B", "templates": {"fax": {"key": "x"}}}]},
     "variants.1.templates.fax.key"),
    ({"subject": SUBJECT, "variants": [{"name": "A"}, {"name": "B", "templates": {"email": {}}}]},
     "variants.1.templates.email"),
    ({"subject": SUBJECT, "variants": [{"name": "A"}, {"name": "B", "templates": {"email": {"key": "nope"}}}]},
     "variants.1.templates.email.key"),
    ({"subject": SUBJECT, "variants": [{"name": "A"}, {"name": "B", "templates": {
        "email": {"source": "{% block subject %}{{ oops(){% endblock %}"}}}]}, "variants.1.templates.email.source"),
    ({"subject": SUBJECT, "variants": [{"name": "A"}, {"name": "B", "templates": {
        "sms": {"source": "{{ ''.__class__.__mro__ }}"}}}]}, "variants.1.templates.sms.source"),
    ({"subject": SUBJECT, "variants": [{"name": f"A{NUL}"}, {"name": "B"}]}, "variants.0.name"),
    ({"subject": SUBJECT, "variants": [{"name": "A"}, {"name": f"B{SURROGATE}"}]}, "variants.1.name"),
])
def test_bad_input_is_a_400_naming_the_field(shop, app, body, field):
    answer = post(shop, body)
    assert answer.status_code == 400, answer.get_json()
    fields = answer.get_json()["error"]["fields"]
    assert any(name == field or name.startswith(f"{field}.") for name in fields), fields
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Experiment.id))) == 0


def test_unparseable_huge_or_non_json_bodies(shop):
    assert post(shop, raw="{nope").status_code == 400
    assert post(shop, raw="[]").status_code == 400
    huge = {"subject": SUBJECT, "variants": [{"name": "A"}, {"name": "B", "templates": {
        "email": {"source": "x" * 300_000}}}]}
    assert post(shop, huge).status_code == 413
    answer = shop.client.post("/api/v1/experiments", data="subject=1", headers=shop.headers)
    assert answer.status_code == 415


def test_a_second_running_experiment_on_the_step_is_a_409(shop):
    create(shop)
    answer = post(shop, {"subject": SUBJECT, "variants": two_variants()})
    assert answer.status_code == 409 and "subject" in answer.get_json()["error"]["fields"]
    other_step = post(shop, {"subject": {"automation": "abandoned_cart", "step": 2}, "variants": two_variants()})
    assert other_step.status_code == 201


def test_another_stores_experiment_and_odd_ids_are_404_and_auth_is_required(shop, make_store):
    mine = create(shop)
    other = make_store(name="Other", domain="other.example")
    for path in (f"/api/v1/experiments/{mine['id']}", "/api/v1/experiments/abc", "/api/v1/experiments/99999999999",
                 "/api/v1/experiments/%C2%B2", "/api/v1/experiments/-1"):
        assert get(other, path).status_code == 404, path
    assert post(other, {}, path=f"/api/v1/experiments/{mine['id']}/stop").status_code == 404
    assert post(other, {}, path=f"/api/v1/experiments/{mine['id']}/apply").status_code == 404
    assert get(other, "/api/v1/experiments").get_json() == {"experiments": []}
    assert get(other, "/api/v1/experiments/1%002").status_code == 400
    assert shop.client.get("/api/v1/experiments").status_code == 401
    forged = {"Authorization": "Bearer rk_forged"}
    assert shop.client.get(f"/api/v1/experiments/{mine['id']}", headers=forged).status_code == 401
    assert post(shop, {"subject": SUBJECT, "variants": two_variants()}, headers=forged).status_code == 401
    for action in ("stop", "apply"):
        path = f"/api/v1/experiments/{mine['id']}/{action}"
        assert shop.client.post(path).status_code == 401
        assert post(shop, {}, headers=forged, path=path).status_code == 401
        assert post(shop, {}, path=f"/api/v1/experiments/{mine['id']}%00/{action}").status_code == 400
    assert get(shop, f"/api/v1/experiments/{mine['id']}").get_json()["state"] == "running"


# -- campaigns --------------------------------------------------------------------------------------------------------

B_CAMPAIGN = {"subject": "B: new mugs for {{ customer.first_name or 'you' }}", "html": "<p>Variant B news</p>"}


def campaign_with_recipients(app, store_id, recipients):
    """A scheduled campaign whose outbox rows are due now (what its expander writes)."""
    with app.app_context():
        campaign = Campaign(store_id=store_id, name="Spring", state="scheduled", channels=["email"], templates={})
        db.session.add(campaign)
        db.session.flush()
        for n in range(recipients):
            customer = Customer(store_id=store_id, email=f"c{n}@example.com", first_name=f"C{n}",
                                email_consent=True)
            db.session.add(customer)
            db.session.flush()
            db.session.add(Message(store_id=store_id, customer_id=customer.id, kind="campaign", channel="email",
                                   campaign_id=campaign.id, due_at=T0, dedup_key=f"campaign:{campaign.id}:{n}"))
        db.session.commit()
        return campaign.id


def test_a_campaign_experiment_varies_its_recipients_email_and_its_winner_becomes_the_campaigns(shop, app):
    campaign_id = campaign_with_recipients(app, shop.store_id, 10)
    experiment = create(shop, subject={"campaign": campaign_id}, auto_apply=True, variants=[
        {"name": "Control"}, {"name": "B", "templates": {"email": {"source": B_CAMPAIGN}}}])
    assert experiment["subject"] == {"campaign": campaign_id}
    at(app, timedelta(minutes=1))
    mails = sent(app, kind="campaign")
    assert len(mails) == 10
    for mail in mails:
        assert mail.subject.startswith("B: new mugs") == (variant_of(app, mail) == "B"), mail.subject
    assert {variant_of(app, m) for m in mails} == {"Control", "B"}
    seed_results(app, experiment["id"], 600, {"Control": 6, "B": 60})
    run_experiments_job(app)
    read = get(shop, f"/api/v1/experiments/{experiment['id']}").get_json()
    assert read["decision"]["winner"] == "B" and read["decision"]["applied"] is True
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).templates == {"email": {"source": B_CAMPAIGN}}


@pytest.mark.parametrize("source, field", [
    ("<p>a string</p>", "variants.1.templates.email.source"),
    ({"subject": "x"}, "variants.1.templates.email.source"),
    ({"subject": "{{ broken(", "html": "<p>x</p>"}, "variants.1.templates.email.source"),
])
def test_a_campaign_variant_has_the_campaigns_template_shape(shop, app, source, field):
    campaign_id = campaign_with_recipients(app, shop.store_id, 0)
    answer = post(shop, {"subject": {"campaign": campaign_id}, "variants": [
        {"name": "A"}, {"name": "B", "templates": {"email": {"source": source}}}]})
    assert answer.status_code == 400 and field in answer.get_json()["error"]["fields"], answer.get_json()


def test_another_stores_or_a_sent_campaign_cannot_be_tested(shop, app, make_store):
    other = make_store(name="Other", domain="other.example")
    theirs = campaign_with_recipients(app, other.store_id, 0)
    for subject in ({"campaign": theirs}, {"campaign": 999999}, {"campaign": "1"}, {}):
        answer = post(shop, {"subject": subject, "variants": two_variants()})
        assert answer.status_code == 400 and any(f.startswith("subject") for f in answer.get_json()["error"][
            "fields"]), (subject, answer.get_json())
    with app.app_context():
        db.session.get(Campaign, theirs).state = "sent"
        db.session.commit()
    answer = post(other, {"subject": {"campaign": theirs}, "variants": two_variants()})
    assert answer.status_code == 400 and "subject.campaign" in answer.get_json()["error"]["fields"]
