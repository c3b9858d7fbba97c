"""Slots: typed inside the program, a dict only in the conversation store, read back leniently."""

from __future__ import annotations

from core.slots import PendingQuestion, Slots


def test_empty_slots_store_as_an_empty_dict():
    assert Slots().to_dict() == {}
    assert Slots.from_dict({}) == Slots()


def test_slots_round_trip_through_their_dict():
    slots = Slots(pending=PendingQuestion("email", "cancel_order", "12345", asked=2), order_number="12345",
                  verified_email="ana@example.com", verification_failures=1, failures=2, destination="Canada",
                  last_question="Do you ship to Canada?", last_destination="Canada",
                  shown_products=["NW-LAP-0001"], shopping_requests=["a laptop under $800"])
    assert Slots.from_dict(slots.to_dict()) == slots
    assert slots.to_dict()["pending"] == {"need": "email", "action": "cancel_order", "order_number": "12345", "asked": 2}


def test_values_of_the_wrong_type_or_unknown_keys_are_dropped():
    raw = {"pending": {"need": "teleport"}, "order_number": 12345, "failures": "many", "verified_email": ["x"],
           "shown_products": "NW-1", "shopping_requests": ["ok", 3], "from_a_newer_version": True}
    assert Slots.from_dict(raw) == Slots(order_number="12345", shopping_requests=["ok"])
    assert Slots.from_dict("not a dict") == Slots()


def test_a_copy_is_independent():
    slots = Slots(pending=PendingQuestion("order_number", "track_order"), shown_products=["A"])
    copy = slots.copy()
    copy.pending.asked += 1
    copy.shown_products.append("B")
    assert slots.pending.asked == 1 and slots.shown_products == ["A"]


def test_a_hand_back_keeps_who_the_customer_proved_to_be_and_their_order():
    slots = Slots(pending=PendingQuestion("confirm", "cancel_order", "12345"), order_number="12345",
                  verified_email="ana@example.com", failures=2, last_question="Where is my order?")
    assert slots.after_handback() == Slots(order_number="12345", verified_email="ana@example.com")


def test_the_language_a_question_was_asked_in_is_remembered():
    pending = PendingQuestion("email", "track_order", "12345", language="zh")
    assert pending.to_dict() == {"need": "email", "action": "track_order", "order_number": "12345", "language": "zh"}
    assert Slots.from_dict(Slots(pending=pending).to_dict()).pending == pending
    assert "language" not in PendingQuestion("order_number").to_dict()  # English, the default, is not stored
    assert PendingQuestion.from_dict({"need": "confirm"}).language == "en"
    assert PendingQuestion.from_dict({"need": "confirm", "language": 7}).language == "en"
