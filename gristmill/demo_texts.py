"""What the customers and agents of Ridgeline Outfitters, a fictional online outdoor-gear shop,
say: the text banks of `gristmill.demo_data` and the functions that fill them.

A template is a string with ``{slot}`` placeholders. A message is a tuple of segments joined by a
space, and a segment is a tuple of alternatives that mean the same thing: picking other
alternatives rewords a message without changing what it says, which is how paraphrases are made.
Slot values that are PII are tracked as character spans while a message is joined, so the labels
are exact. The golden (evaluation) texts share no phrasing with the training texts, so overlap
between the two files is a planted leak.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

PII_SLOTS = {
    "name": "PERSON",
    "first": "PERSON",
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "card": "CREDIT_CARD",
    "address": "LOCATION",
}
_SLOT = re.compile(r"\{(\w+)\}")
_MONTHS = (
    "January February March April May June July August September October November December".split()
)

Part = tuple[str, str | None]  # text, and the PII entity type when the text is one


@dataclass(frozen=True)
class ChatSpec:
    """What a chat says (intent, slot values, turns) and which wording it uses (the picks)."""

    intent: str
    slots: dict[str, str]
    system: int | None
    user: tuple[int, ...]  # one pick per segment of the opening user message
    assistant: tuple[int, ...]
    follows: tuple[tuple[str, int, int, int], ...]  # (source, index, user pick, assistant pick)
    close: int

    @property
    def wording(self) -> tuple:
        """The picks that carry content: two chats of one intent with the same wording differ
        only in greetings, sign-offs and slot values, which makes them near duplicates."""
        return (self.intent, self.user[1:-1], self.assistant[1:], self.follows)


def render(template: str, slots: dict[str, str]) -> list[Part]:
    """The template as parts, each slot value its own part; a missing slot is a KeyError."""
    parts: list[Part] = []
    pos = 0
    for m in _SLOT.finditer(template):
        parts += [(template[pos : m.start()], None), (slots[m[1]], PII_SLOTS.get(m[1]))]
        pos = m.end()
    return [*parts, (template[pos:], None)]


def fill(template: str, slots: dict[str, str]) -> str:
    return "".join(text for text, _ in render(template, slots))


def join(pieces: list[list[Part]]) -> tuple[str, list[tuple[str, int, int]]]:
    """Join rendered pieces with spaces, skipping empty ones; spans of the PII parts."""
    out: list[str] = []
    spans, n = [], 0
    for piece in pieces:
        if not any(text for text, _ in piece):
            continue
        if out:
            out.append(" ")
            n += 1
        for text, kind in piece:
            if kind:
                spans.append((kind, n, n + len(text)))
            out.append(text)
            n += len(text)
    return "".join(out), spans


def draw_slots(rng: random.Random, cats: tuple[str, ...] | None) -> dict[str, str]:
    """Consistent values for every non-PII slot, for a product of one of `cats` (any if None)."""
    items = [it for it in ITEMS if cats is None or it[1] in cats or it[0] in cats]
    item, cat, grams, price = rng.choice(items)
    (line, f), (line2, f2) = rng.sample(LINES, 2)
    start = date(2024, 1, 1) + timedelta(rng.randrange(330))
    shipped = start + timedelta(rng.randint(1, 3))
    days, pct = rng.randint(2, 6), rng.choice((10, 15, 20, 25))
    carrier = rng.choice(CARRIERS)
    weights = (round(grams * f / 5) * 5, round(grams * f2 / 5) * 5)
    prices = (int(price * f) + 0.95, int(price * f2) + 0.95)
    sizes = SIZES.get(cat, SIZES["apparel"])
    size = rng.randrange(len(sizes) - 1)
    color, color2 = rng.sample(COLORS, 2)
    return {
        "product": f"{line} {item}",
        "product2": f"{line2} {item}",
        "weight": f"{weights[0]:,} g",
        "weight2": f"{weights[1]:,} g",
        "lighter": f"{line if weights[0] <= weights[1] else line2} {item}",
        "price": f"${prices[0]:,.2f}",
        "price2": f"${prices[1]:,.2f}",
        "amount": f"${prices[0]:,.2f}",
        "amount2": f"${prices[0] * pct / 100:,.2f}",
        "pct": str(pct),
        "code": f"{rng.choice(CODE_WORDS)}{pct}",
        "order": f"RO-{rng.randint(100000, 999999)}",
        "date": _day(start),
        "ship_date": _day(shipped),
        "eta": _day(shipped + timedelta(days)),
        "days": str(days),
        "late_days": str(rng.randint(4, 9)),
        "weeks": str(rng.randint(2, 7)),
        "carrier": carrier,
        "tracking": _tracking(rng, carrier),
        "last4": f"{rng.randint(0, 9999):04d}",
        "size": sizes[size],
        "size2": sizes[size + 1],
        "color": color,
        "color2": color2,
        "error": f"E-{rng.randint(100, 999)}",
        "version": f"{rng.randint(3, 5)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
        "ticket": f"CS-{rng.randint(10000, 99999)}",
        "damage": DAMAGE[cat],
        "warranty": WARRANTY[0 if cat in ELECTRONIC else 1],
    }


def _day(d: date) -> str:
    return f"{_MONTHS[d.month - 1]} {d.day}"


def _tracking(rng: random.Random, carrier: str) -> str:
    digits = f"{rng.randrange(10**22):022d}"
    if carrier == "UPS":
        return "1Z" + "".join(rng.choices("0123456789ABCDEFGHJKLMNPRSTUVWXYZ", k=6)) + digits[:10]
    return digits[:12] if carrier == "FedEx" else "9400" + digits[:18]


def draw_pii(rng: random.Random) -> dict[str, str]:
    """A fictional customer: reserved 555-01xx phones, example.* emails, published test cards."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = rng.choice((f"{first}.{last}", f"{first[0]}{last}{rng.randint(1, 99)}", first + last))
    area, line = rng.choice(AREA_CODES), f"01{rng.randint(0, 99):02d}"
    phone = rng.choice(
        (
            f"({area}) 555-{line}",
            f"{area}-555-{line}",
            f"+1 {area} 555 {line}",
            f"{area}.555.{line}",
        )
    )
    card = rng.choice(TEST_CARDS)
    groups = (4, 6, 5) if len(card) == 15 else (4, 4, 4, 4)
    cuts = [sum(groups[:i]) for i in range(len(groups) + 1)]
    sep = rng.choice((" ", "-", ""))
    city, state, zip3 = rng.choice(CITIES)
    unit = rng.choice(("", "", f", Apt {rng.randint(1, 30)}{rng.choice('ABCD')}"))
    street = f"{rng.randint(12, 9899)} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
    return {
        "name": f"{first} {last}",
        "first": first,
        "email": f"{local.lower()}@{rng.choice(EMAIL_DOMAINS)}",
        "phone": phone,
        "card": sep.join(card[a:b] for a, b in pairwise(cuts)),
        "address": f"{street}{unit}, {city}, {state} {zip3}{rng.randint(0, 99):02d}",
    }


def _segments(intent: str) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    spec = INTENTS[intent]
    user = (GREETINGS, *spec["ask"], USER_CLOSINGS)
    return user, (spec.get("openers", OPENERS), *spec["answer"])


def _follow(intent: str, source: str, i: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if source == "intent":
        return INTENTS[intent]["follow"][i]
    return FOLLOW_UPS[i] if source == "generic" else THANKS


def new_spec(rng: random.Random) -> ChatSpec:
    """A random chat: half single-turn, the rest 2-4 user turns; half with a system prompt."""
    intent = rng.choice(tuple(INTENTS))
    user, assistant = _segments(intent)
    slots = draw_slots(rng, INTENTS[intent]["cats"])
    system = rng.randrange(len(SYSTEM_PROMPTS)) if rng.random() < 0.5 else None
    extra = rng.choices((0, 1, 2, 3), weights=(50, 25, 15, 10))[0]
    thanks = extra > 0 and rng.random() < 0.3
    refs = [("intent", i) for i in range(len(INTENTS[intent]["follow"]))]
    refs += [("generic", i) for i in range(len(FOLLOW_UPS))]
    chosen = [refs[k] for k in sorted(rng.sample(range(len(refs)), extra - thanks))]
    chosen += [("thanks", 0)] * thanks
    follows = []
    for source, i in chosen:
        u, a = _follow(intent, source, i)
        follows.append((source, i, rng.randrange(len(u)), rng.randrange(len(a))))
    return ChatSpec(
        intent,
        slots,
        system,
        tuple(rng.randrange(len(s)) for s in user),
        tuple(rng.randrange(len(s)) for s in assistant),
        tuple(follows),
        rng.randrange(len(ASSISTANT_CLOSINGS)),
    )


def reword(rng: random.Random, spec: ChatSpec) -> ChatSpec:
    """The same chat with another alternative picked for every segment: a paraphrase."""

    def other(pick: int, n: int) -> int:
        return (pick + rng.randrange(1, n)) % n if n > 1 else pick

    user, assistant = _segments(spec.intent)
    follows = []
    for source, i, u, a in spec.follows:
        fu, fa = _follow(spec.intent, source, i)
        follows.append((source, i, other(u, len(fu)), other(a, len(fa))))
    return replace(
        spec,
        user=tuple(other(p, len(s)) for p, s in zip(spec.user, user, strict=True)),
        assistant=tuple(other(p, len(s)) for p, s in zip(spec.assistant, assistant, strict=True)),
        follows=tuple(follows),
        close=other(spec.close, len(ASSISTANT_CLOSINGS)),
    )


def build(spec: ChatSpec, pii: random.Random | None = None) -> tuple[list[dict], list[dict]]:
    """Messages of a chat and, when `pii` is given, planted PII with its entity spans."""
    s = spec.slots
    user, assistant = _segments(spec.intent)
    turns: list[tuple[str, list[list[Part]]]] = []
    if spec.system is not None:
        turns.append(("system", [render(SYSTEM_PROMPTS[spec.system], s)]))
    turns.append(("user", [render(seg[p], s) for seg, p in zip(user, spec.user, strict=True)]))
    pieces = [render(seg[p], s) for seg, p in zip(assistant, spec.assistant, strict=True)]
    turns.append(("assistant", pieces))
    for source, i, u, a in spec.follows:
        fu, fa = _follow(spec.intent, source, i)
        turns += [("user", [render(fu[u], s)]), ("assistant", [render(fa[a], s)])]
    turns[-1][1].append(render(ASSISTANT_CLOSINGS[spec.close], s))
    if pii:
        _plant_pii(pii, turns)
    messages, entities = [], []
    for index, (role, parts) in enumerate(turns):
        content, spans = join(parts)
        messages.append({"role": role, "content": content})
        entities += [{"type": t, "message": index, "start": a, "end": b} for t, a, b in spans]
    return messages, entities


def _plant_pii(rng: random.Random, turns: list[tuple[str, list[list[Part]]]]) -> None:
    slots = draw_pii(rng)
    kinds = rng.sample(tuple(USER_PII), rng.choice((1, 1, 2, 2, 3)))
    users = [i for i, (role, _) in enumerate(turns) if role == "user"]
    at = users[0] if rng.random() < 0.7 else rng.choice(users)
    pieces = turns[at][1]
    pos = len(pieces) - 1 if at == users[0] else len(pieces)  # before the customer's sign-off
    pieces[pos:pos] = [render(rng.choice(USER_PII[k]), slots) for k in kinds]
    if rng.random() < 0.4:  # the agent echoes it back
        echo = ASSISTANT_PII[rng.choice(kinds)]
        turns[at + 1][1].insert(0, render(rng.choice(echo), slots))


def debug_log(rng: random.Random, size: int) -> str:
    """A device's debug log of about `size` characters, as a customer pastes it into a chat."""
    lines, total, ms = [], 0, rng.randrange(20 * 3_600_000)
    device = f"{rng.randrange(16**6):06X}"
    while total < size:
        ms += rng.randint(3, 2500)
        h, m, s = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60
        level, component, template, low, high = rng.choice(LOG_EVENTS)
        message = template.format(n=rng.randint(low, high), device=device)
        lines.append(
            f"2024-06-14T{h:02d}:{m:02d}:{s:02d}.{ms % 1000:03d}Z "
            f"{level:<5} [{component}] {message}"
        )
        total += len(lines[-1]) + 1
    return "\n".join(lines)


def golden_messages(
    core: int, slots: dict, lead: int, tail: int, reworded: bool = False
) -> list[dict]:
    """A golden item: lead-in and question, then the answer and a closing fact."""
    _, question, answer, question2, answer2 = GOLDEN[core]
    q, a = (question2, answer2) if reworded else (question, answer)
    user, _ = join([render(GOLDEN_LEADINS[lead], slots), render(q, slots)])
    end = GOLDEN_TAILS[tail][reworded]
    assistant, _ = join([render(a, slots), render(end, slots)])
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


# The text banks.

LINES = (  # product line, weight and price factor
    ("Summit", 1.0),
    ("Talus", 0.86),
    ("Cirque", 1.14),
    ("Switchback", 0.95),
    ("Larch", 0.9),
    ("Kestrel", 1.1),
    ("Scree", 0.8),
    ("Bristlecone", 1.24),
    ("Tamarack", 1.05),
    ("Sawtooth", 0.75),
)
ITEMS = (  # item, category, base weight in grams, base price in dollars
    ("40L Trekking Pack", "pack", 1350, 189),
    ("24L Daypack", "pack", 620, 99),
    ("2-Person Tent", "tent", 1900, 349),
    ("Ultralight Tarp", "tent", 480, 139),
    ("Down Sleeping Bag", "bag", 1050, 299),
    ("Synthetic Quilt", "bag", 820, 189),
    ("Insulated Sleeping Pad", "pad", 540, 149),
    ("Rain Shell", "apparel", 390, 179),
    ("Down Jacket", "apparel", 420, 229),
    ("Fleece Pullover", "apparel", 350, 89),
    ("Hiking Boot", "footwear", 1180, 199),
    ("Trail Running Shoe", "footwear", 640, 139),
    ("GPS Watch", "device", 62, 329),
    ("Satellite Messenger", "device", 115, 379),
    ("Rechargeable Headlamp", "electronics", 88, 59),
    ("Solar Power Bank", "electronics", 310, 79),
    ("Canister Stove", "cooking", 95, 69),
    ("Water Filter", "water", 140, 49),
)
COLORS = tuple(
    (
        "slate blue,forest green,basalt gray,ember orange,glacier white,black,desert tan,moss,"
        "crimson,navy,ochre,sage"
    ).split(",")
)
CARRIERS = ("UPS", "FedEx", "USPS")
CODE_WORDS = ("TRAIL", "SUMMIT", "CAMP", "HIKE", "PEAK", "WILD", "RIDGE")
DAMAGE = {
    "pack": "one of the hip-belt buckles is snapped",
    "tent": "one of the tent poles is bent",
    "bag": "the outer fabric is torn",
    "pad": "the inflation valve is cracked",
    "apparel": "the main zipper is ripped out",
    "footwear": "one of the heels is gouged",
    "device": "the screen is cracked",
    "electronics": "the casing is cracked",
    "cooking": "the burner head is bent",
    "water": "the filter housing is cracked",
}
ELECTRONIC = ("device", "electronics")
WARRANTY = ("2-year warranty", "lifetime guarantee against manufacturing defects")
SIZES = {
    "apparel": ("XS", "small", "medium", "large", "XL", "XXL"),
    "footwear": ("7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "11.5", "12", "13"),
}

SYSTEM_PROMPTS = (
    "You are a helpful customer support assistant for Ridgeline Outfitters, an online "
    "outdoor-gear shop. Be friendly, concise and accurate about store policies.",
    "You are Ridgeline Outfitters' support agent. Answer questions about orders, returns, billing "
    "and gear. Never ask for full card numbers.",
    "You help customers of Ridgeline Outfitters (outdoor gear, shipping within the US and "
    "Canada). Follow the 60-day return policy and escalate safety issues.",
    "Role: customer care for Ridgeline Outfitters. Tone: warm and practical. Keep answers short "
    "and always offer a next step.",
)
GREETINGS = ("", "Hi!", "Hello!", "Hey there.", "Good morning!", "Hi team!", "Hi there!")
USER_CLOSINGS = ("", "Thanks!", "Thanks in advance.", "Appreciate the help.", "Thank you.")
OPENERS = (
    "",
    "Thanks for reaching out!",
    "Happy to help.",
    "Thanks for getting in touch.",
    "Thanks for the details.",
)
SORRY_OPENERS = (
    "I'm sorry about this.",
    "I'm really sorry to hear that.",
    "Apologies for the trouble.",
    "I understand, and I'm sorry.",
)
ASSISTANT_CLOSINGS = (
    "",
    "Anything else I can help with?",
    "Let me know if there's anything else.",
    "Have a great time on the trail!",
    "Feel free to reply here if anything changes.",
)

ORDER_STATUS: dict[str, Any] = dict(
    cats=None,
    ask=(
        (
            "I ordered the {product} on {date} (order {order})",
            "My order {order} for the {product} went through on {date}",
            "Back on {date} I bought the {product}, order number {order},",
        ),
        (
            "and it still hasn't shown up.",
            "but nothing has arrived yet.",
            "and the tracking hasn't moved in days.",
        ),
        (
            "Can you tell me where it is?",
            "Could you check on it for me?",
            "Any idea when I'll actually get it?",
        ),
    ),
    answer=(
        (
            "Order {order} left our warehouse on {ship_date} with {carrier}.",
            "I can see that order {order} shipped with {carrier} on {ship_date}.",
            "Your {product} was handed to {carrier} on {ship_date}.",
        ),
        (
            "The tracking number is {tracking}, and the current delivery estimate is {eta}.",
            "You can follow it with tracking number {tracking}; it is due by {eta}.",
            "Tracking {tracking} shows it in transit with an expected delivery of {eta}.",
        ),
        (
            "If it hasn't arrived by then, reply here and I'll open a trace with the carrier.",
            "If it misses that date, let us know and we'll file a claim or send a replacement.",
            "Should the date slip, message us and we'll chase {carrier} and reship if needed.",
        ),
    ),
    follow=(
        (
            (
                "Can I have it delivered to my office instead?",
                "Is it possible to redirect it to my work address?",
                "Could the parcel go to my workplace instead of home?",
            ),
            (
                "Once a parcel is in transit we can't change the address ourselves, but "
                "{carrier} lets you request a redirect from the tracking page for {tracking}.",
                "Because it's already with {carrier}, the quickest option is their redirect "
                "request for {tracking}; we can't edit it from our side now.",
            ),
        ),
        (
            ("Will someone need to sign for it?", "Does somebody have to be home to sign?"),
            (
                "No signature is required unless you asked for one at checkout, so {carrier} "
                "will leave it at your door.",
                "It ships without a signature requirement unless you chose one, so the driver "
                "can leave it at the door.",
            ),
        ),
    ),
    wrong=(
        "Orders take 4-6 weeks, just keep waiting.",
        "It says delivered, so check with your neighbors.",
    ),
)

CHANGE_ADDRESS: dict[str, Any] = dict(
    cats=None,
    ask=(
        (
            "I just placed order {order} for the {product} and the shipping address is wrong.",
            "I got the delivery address wrong on order {order} (the {product}), placed just now.",
            "Order {order} for the {product} went in with my old address by accident.",
        ),
        (
            "Can you update it before it ships?",
            "Is it still possible to fix it before it goes out?",
            "Could you change it before the package leaves?",
        ),
    ),
    answer=(
        (
            "Good timing: order {order} hasn't been packed yet, so the address can still change.",
            "Order {order} is still waiting to be packed, which means we can update the address.",
            "You caught it in time, since order {order} has not left the packing queue.",
        ),
        (
            "It's booked for {carrier} pickup on {ship_date}, so there's still time.",
            "It isn't due to go out with {carrier} until {ship_date}.",
            "{carrier} won't collect it before {ship_date}, which leaves room for the fix.",
        ),
        (
            "Please reply with the corrected address and I'll update it right away.",
            "Send me the correct delivery address here and I'll make the change immediately.",
            "Just share the right address in this chat and I'll fix it on the order now.",
        ),
        (
            "You'll get a new confirmation email once it's saved.",
            "A fresh confirmation email will follow as soon as the update is saved.",
            "We'll email you an updated confirmation after the change.",
        ),
    ),
    follow=(
        (
            (
                "Will this delay the delivery?",
                "Does changing the address push back the delivery date?",
            ),
            (
                "No, it still ships on schedule and should arrive within {days} business days.",
                "It won't slow anything down; expect delivery within {days} business days.",
            ),
        ),
        (
            (
                "Can I also add a second item to the order?",
                "Is it possible to add another product to that order?",
            ),
            (
                "Items can't be added to a placed order, but if you order the second item "
                "within the hour we'll pack them together and refund the extra shipping.",
                "We can't add lines to an existing order; place a new one within the hour and "
                "we'll combine them in one box and refund the duplicate shipping.",
            ),
        ),
    ),
    wrong=("Addresses can never be changed after checkout, sorry.",),
)

START_RETURN: dict[str, Any] = dict(
    cats=None,
    ask=(
        (
            "I'd like to return the {product} from order {order}.",
            "I want to send back the {product} I got in order {order}.",
            "Can I return the {product}? It was part of order {order}.",
        ),
        (
            "It just isn't what I expected.",
            "It doesn't really suit me after all.",
            "It turned out not to be right for my trips.",
        ),
        (
            "How do I start a return?",
            "What's the process for sending it back?",
            "What do I need to do?",
        ),
    ),
    answer=(
        (
            "You can return the {product} within 60 days of delivery if it's unused or only "
            "lightly tried.",
            "We accept returns within 60 days of delivery for unused or gently tried items, so "
            "the {product} qualifies.",
            "You're within our 60-day window, so the {product} can come back as long as it "
            "hasn't seen real use.",
        ),
        (
            "I've emailed a prepaid {carrier} label for order {order}; drop the box at any "
            "{carrier} location.",
            "A free {carrier} return label for order {order} is on its way to your inbox.",
            "Check your email for a prepaid {carrier} label tied to order {order}.",
        ),
        (
            "Your refund of {amount} goes out within 2 business days of our warehouse scanning "
            "the return.",
            "Once our warehouse scans the parcel, we issue the {amount} refund within 2 business "
            "days.",
            "We refund the {amount} within 2 business days after the return reaches us.",
        ),
    ),
    follow=(
        (
            ("Do I need the original box?", "Does it have to go back in the original packaging?"),
            (
                "Any sturdy box works; the original packaging isn't required.",
                "No, a sturdy box of any kind is fine, you don't need the original packaging.",
            ),
        ),
        (
            ("Can I get store credit instead?", "Would store credit be an option instead?"),
            (
                "Yes, choose store credit and we'll add {amount} plus a 10% bonus to your account "
                "as soon as the return is scanned.",
                "Absolutely; pick store credit and you'll get {amount} plus an extra 10% the "
                "moment the parcel is scanned.",
            ),
        ),
    ),
    wrong=(
        "Returns are only accepted within 7 days, so we can't take it back.",
        "We only give store credit, never refunds.",
    ),
)

REFUND_STATUS: dict[str, Any] = dict(
    cats=None,
    ask=(
        (
            "I sent back the {product} from order {order} on {date}",
            "My return of the {product} (order {order}) was shipped on {date}",
            "On {date} I mailed the {product} back for order {order}",
        ),
        (
            "and I still haven't seen the refund.",
            "but the money hasn't come back to my card yet.",
            "and there's no sign of my refund so far.",
        ),
        ("What's going on?", "Can you check the status?", "When should I expect it?"),
    ),
    answer=(
        (
            "Our warehouse scanned your return on {ship_date} and refunded {amount} to the card "
            "ending in {last4} the next day.",
            "The return arrived on {ship_date}, and {amount} went back to your card ending "
            "{last4} a day later.",
            "The {product} was checked in on {ship_date}; {amount} was refunded to the card "
            "ending in {last4} the following day.",
        ),
        (
            "Banks usually take 3-5 business days to post it, so it should appear by {eta}.",
            "It typically takes your bank 3-5 business days to show it, so around {eta}.",
            "Most banks need 3-5 business days to post refunds, so look for it by {eta}.",
        ),
        (
            "If it isn't there by then, reply and I'll send a reference number your bank can "
            "trace.",
            "If you don't see it by that date, we'll give you a reference number for your bank.",
            "Still missing after that? We'll provide the transaction reference so your bank can "
            "track it.",
        ),
    ),
    follow=(
        (
            (
                "Was the original shipping cost refunded too?",
                "Do I get the shipping fee back as well?",
            ),
            (
                "Original shipping is refunded only when the item was defective or we made a "
                "mistake, so it isn't included here.",
                "We refund the original shipping charge only for defective items or our own "
                "errors, so it wasn't part of this refund.",
            ),
        ),
        (
            (
                "Can the refund go to a different card?",
                "Could you send the money to another card instead?",
            ),
            (
                "Refunds can only go back to the original payment method, the card ending in "
                "{last4}, for security reasons.",
                "For security, refunds always return to the original payment method, which is "
                "the card ending in {last4}.",
            ),
        ),
    ),
    wrong=("Refunds take up to 90 days, nothing we can do.",),
)

EXCHANGE_SIZE: dict[str, Any] = dict(
    cats=("apparel", "footwear"),
    ask=(
        (
            "The {product} I got in order {order} is too small.",
            "I ordered the {product} in size {size} (order {order}) and it's too tight.",
            "My {product} from order {order} doesn't fit, it runs small.",
        ),
        (
            "Can I swap it for size {size2}?",
            "I'd like to exchange it for size {size2}.",
            "Could I get size {size2} instead?",
        ),
    ),
    answer=(
        ("Yes, exchanges are free.", "Sure, size exchanges don't cost anything."),
        (
            "I've reserved size {size2} in {color} and emailed a prepaid label to return the size "
            "{size}.",
            "Size {size2} in {color} is now set aside for you, and a free return label for the "
            "size {size} is in your inbox.",
            "I've put size {size2} in {color} on hold and sent you a prepaid label for the size "
            "{size}.",
        ),
        (
            "The replacement ships the moment {carrier} scans your return.",
            "As soon as {carrier} scans the parcel, we send the new size.",
            "We'll ship size {size2} once {carrier} scans your package.",
        ),
    ),
    follow=(
        (
            ("What if size {size2} doesn't fit either?", "And if size {size2} is also wrong?"),
            (
                "Then we'll exchange it again for free; there's no limit on size exchanges within "
                "60 days.",
                "No problem, you can exchange again at no cost, as many times as needed within 60 "
                "days.",
            ),
        ),
        (
            ("Can I switch colors at the same time?", "Could I pick a different color too?"),
            (
                "Yes, tell me which color you'd like and I'll update the reservation if it's in "
                "stock.",
                "Sure, let me know the color and I'll change the held item if that color is "
                "available.",
            ),
        ),
    ),
    wrong=("Exchanges cost $20 per item.",),
)

DOUBLE_CHARGE: dict[str, Any] = dict(
    cats=None,
    ask=(
        (
            "I was charged twice for order {order}.",
            "My card shows two charges of {amount} for order {order}.",
            "There are two identical charges for order {order} on my statement.",
        ),
        (
            "I only placed one order.",
            "I definitely only checked out once.",
            "I only bought it one time.",
        ),
        (
            "Can you refund the extra one?",
            "Please fix the duplicate.",
            "Could you reverse the second charge?",
        ),
    ),
    answer=(
        (
            "I checked order {order} and there's only one completed charge of {amount}.",
            "Looking at order {order}, we captured {amount} just once.",
            "Our records for order {order} show a single captured payment of {amount}.",
        ),
        (
            "The second entry is a pending authorization that drops off within 3-5 business days.",
            "The other line is a temporary hold that your bank releases within 3-5 business days.",
            "What you see twice is a pre-authorization hold, which clears within 3-5 business "
            "days.",
        ),
        (
            "If both are still there after {eta}, send a statement screenshot and we'll escalate "
            "it.",
            "If it's still showing after {eta}, share a screenshot and we'll raise it with our "
            "payments team.",
            "Should both remain after {eta}, reply with a screenshot so we can escalate it.",
        ),
    ),
    follow=(
        (
            ("Why does that hold happen at all?", "Why did you place a hold in the first place?"),
            (
                "Card networks verify the funds when you check out, and some banks show that "
                "check as a separate pending line until it expires.",
                "At checkout the card is verified for the amount, and certain banks display that "
                "check as its own pending line until it clears.",
            ),
        ),
        (
            (
                "Will the pending charge affect my available credit?",
                "Does the hold reduce my available balance?",
            ),
            (
                "It can lower your available balance until it expires, but you won't be billed "
                "for it.",
                "Temporarily yes, it reduces what's available until it drops off, though it's "
                "never actually billed.",
            ),
        ),
    ),
    wrong=("You were charged twice because you ordered twice.",),
)

PROMO_CODE: dict[str, Any] = dict(
    cats=None,
    ask=(
        (
            "The code {code} isn't working at checkout for the {product}.",
            "I'm trying to use promo code {code} on the {product} but it gets rejected.",
            "Checkout keeps refusing my discount code {code} for the {product}.",
        ),
        (
            "It's supposed to be {pct}% off.",
            "The email said it gives {pct}% off.",
            "It should take {pct}% off the price.",
        ),
        ("What am I doing wrong?", "Can you help?", "Is there a problem with it?"),
    ),
    answer=(
        (
            "{code} doesn't apply because the {product} is already on sale, and codes only work "
            "on full-price items.",
            "The {product} is currently marked down, and {code} can't be combined with sale "
            "prices.",
            "Promo codes like {code} exclude sale items, and the {product} is on sale right now.",
        ),
        (
            "To make up for the confusion, I've added a credit of {amount2} to your account.",
            "Since the email wasn't clear, I've put a credit of {amount2} on your account.",
            "As a goodwill gesture, your account now has a {amount2} credit.",
        ),
        (
            "It applies automatically at checkout.",
            "You'll see it applied automatically next time you check out.",
            "It'll be deducted automatically on your next order.",
        ),
    ),
    follow=(
        (
            ("Can I use two codes on one order?", "Is it possible to stack promo codes?"),
            (
                "Only one promo code works per order, but account credit can be combined with it.",
                "Codes can't be stacked, one per order, though account credit works alongside a "
                "code.",
            ),
        ),
        (
            ("When does {code} expire?", "How long is {code} valid?"),
            (
                "{code} is valid on full-price items until the end of the month.",
                "You can use {code} on any full-price item until the end of this month.",
            ),
        ),
    ),
    wrong=("That code is fake, we never sent it.",),
)

PASSWORD_RESET: dict[str, Any] = dict(
    cats=None,
    ask=(
        (
            "I can't log into my account to check on order {order}.",
            "I'm locked out of my Ridgeline account and need to see order {order}.",
            "My login stopped working, and I wanted to track order {order}.",
        ),
        (
            "The password reset email never arrives.",
            "I requested a reset link twice but got nothing.",
            "The reset link doesn't show up in my inbox.",
        ),
        ("Can you help me get back in?", "What should I do?", "How can I fix this?"),
    ),
    answer=(
        (
            "Reset emails can take up to 10 minutes and sometimes land in spam or promotions.",
            "First check your spam and promotions folders, since reset messages get filtered.",
            "The reset message may take 10 minutes and is often filtered into spam.",
        ),
        (
            "I've just triggered a new reset link from our side; it stays valid for 30 minutes.",
            "I sent a fresh reset link from our end, which expires in 30 minutes.",
            "A new reset link is on its way from our system and works for 30 minutes.",
        ),
        (
            "Meanwhile, order {order} is on its way: it shipped with {carrier} on {ship_date}.",
            "In the meantime, order {order} shipped via {carrier} on {ship_date}.",
            "While you wait, order {order} left our warehouse with {carrier} on {ship_date}.",
        ),
        (
            "If it still doesn't arrive, I'll verify your identity and reset it manually.",
            "If nothing comes through, we'll confirm your identity and reset it by hand.",
            "Should it fail again, I'll do a manual reset after a quick identity check.",
        ),
    ),
    follow=(
        (
            ("I got it, but it says the link expired.", "The link opened but says it expired."),
            (
                "Only the newest link works, so an older one shows as expired. I've sent "
                "another; please use it within 30 minutes.",
                "An earlier link counts as expired once a new one exists. Here's a fresh one, "
                "valid for 30 minutes.",
            ),
        ),
        (
            ("Can I turn on two-factor authentication?", "Is there a way to add 2FA?"),
            (
                "Yes, go to Account, then Security, and enable two-factor authentication with an "
                "authenticator app.",
                "You can, under Account > Security: switch on two-factor authentication and "
                "scan the code with your app.",
            ),
        ),
    ),
    wrong=("Just make a new account, we can't reset passwords.",),
)

GUEST_ORDER: dict[str, Any] = dict(
    cats=None,
    ask=(
        (
            "I checked out as a guest for order {order}",
            "Order {order} was placed without logging in",
            "I bought the {product} as a guest (order {order})",
        ),
        (
            "and now I'd like it to show up in my account.",
            "but I want it linked to my account now.",
            "and would like to see it in my order history.",
        ),
        ("Is that possible?", "Can you do that?", "How do I add it?"),
    ),
    answer=(
        (
            "Yes, guest orders link automatically when your account uses the checkout email.",
            "If your account is registered with the checkout email, the order links itself.",
            "We connect guest orders to accounts that share the checkout email address.",
        ),
        (
            "I've triggered a sync for order {order}, so it appears in Order History within 15 "
            "minutes.",
            "I've refreshed the link for order {order}; give it up to 15 minutes to show up.",
            "Order {order} is queued for linking and will be in Order History within 15 minutes.",
        ),
        (
            "Trail Points for that purchase will be added at the same time.",
            "Any Trail Points from it get credited once it's linked.",
            "You'll receive the Trail Points for it as soon as it's linked too.",
        ),
    ),
    follow=(
        (
            (
                "What if I used a different email at checkout?",
                "I think I used another email address for that order.",
            ),
            (
                "Then I can move it manually once you confirm the order total and the delivery "
                "zip code.",
                "In that case I'll link it by hand after you confirm the order total and the "
                "delivery zip code.",
            ),
        ),
        (
            ("Can I merge two accounts?", "Is there a way to combine two accounts?"),
            (
                "Yes, we can merge them and move all orders and Trail Points into the account you "
                "keep.",
                "We can combine them: orders and Trail Points move over to whichever account you "
                "choose.",
            ),
        ),
    ),
    wrong=("Guest orders can never be added to accounts.",),
)

PRODUCT_COMPARE: dict[str, Any] = dict(
    cats=("pack", "tent", "bag", "pad", "apparel", "footwear"),
    ask=(
        (
            "Which is lighter, the {product} or the {product2}?",
            "I'm choosing between the {product} and the {product2}, which one weighs less?",
            "How do the {product} and the {product2} compare on weight?",
        ),
        (
            "I'm trying to cut pack weight for a long trip.",
            "Weight matters most to me for a thru-hike.",
            "I'm putting together an ultralight kit.",
        ),
        ("Any recommendation?", "Which would you pick?", "What would you suggest?"),
    ),
    answer=(
        (
            "The {product} weighs {weight} and the {product2} comes in at {weight2}.",
            "On our scale the {product} is {weight}, while the {product2} is {weight2}.",
            "Listed weights are {weight} for the {product} and {weight2} for the {product2}.",
        ),
        (
            "For a weight-focused kit I'd go with the {lighter}, the lighter of the two.",
            "If saving weight is the priority, the {lighter} is the better pick.",
            "Given your goal, the {lighter} makes more sense because it weighs less.",
        ),
        (
            "The heavier one uses tougher fabric, so it holds up better to rough use.",
            "The trade-off is durability: the heavier model uses more abrasion-resistant fabric.",
            "Keep in mind the heavier version is built with sturdier material for rough terrain.",
        ),
    ),
    follow=(
        (
            ("Is there a price difference?", "Do they cost the same?"),
            (
                "The {product} is {price} and the {product2} is {price2}.",
                "Pricing is {price} for the {product} and {price2} for the {product2}.",
            ),
        ),
        (
            ("Are both in stock right now?", "Can I get either one shipped today?"),
            (
                "Both are in stock, and orders placed before 2pm Mountain time ship the same day.",
                "Yes, both are available, and anything ordered before 2pm Mountain ships that day.",
            ),
        ),
    ),
    wrong=("They're exactly the same, just buy whichever.",),
)

BACK_IN_STOCK: dict[str, Any] = dict(
    cats=None,
    ask=(
        (
            "The {product} in {color} has been sold out for weeks.",
            "I keep checking, but the {color} {product} is always out of stock.",
            "Your site says the {product} in {color} is unavailable.",
        ),
        ("Will it be restocked?", "Is it coming back?", "Do you know when you'll have it again?"),
    ),
    answer=(
        (
            "We're expecting a new shipment of the {color} {product} around {eta}.",
            "The next delivery of the {product} in {color} is scheduled for about {eta}.",
            "Our supplier's estimate for the {color} {product} restock is {eta}.",
        ),
        (
            "Tap 'Notify me' on the product page and we'll email you the moment it's back.",
            "If you select 'Notify me' on the product page, you'll get an email when it returns.",
            "Use the 'Notify me' button on its page to get an email alert when it's in stock.",
        ),
        (
            "Restocks of popular colors often sell out within a few days.",
            "Popular colors tend to go fast after a restock, often within days.",
            "Fair warning: in-demand colors usually sell through within a few days.",
        ),
    ),
    follow=(
        (
            ("Can I preorder it now?", "Is there a way to reserve one in advance?"),
            (
                "Yes, you can preorder today; we only charge your card when it ships.",
                "Sure, preorders are open, and your card isn't charged until the item ships.",
            ),
        ),
        (
            ("Is another color available right now?", "What colors do you have in stock today?"),
            (
                "Most other colors are in stock now, and {color2} is the closest match.",
                "Several colors are available today; {color2} is the nearest in look.",
            ),
        ),
    ),
    wrong=("That product is discontinued for good.",),
)

APP_SYNC: dict[str, Any] = dict(
    cats=("device",),
    ask=(
        (
            "My {product} won't sync with the Ridgeline Trails app.",
            "The Ridgeline Trails app can't sync my {product} anymore.",
            "Syncing my {product} to the Ridgeline Trails app keeps failing.",
        ),
        (
            "It shows error {error} every time.",
            "I get error code {error} each time I try.",
            "The app just says {error} and stops.",
        ),
        (
            "I'm on app version {version}.",
            "The app is version {version}.",
            "I'm running version {version} of the app.",
        ),
    ),
    answer=(
        (
            "Error {error} means the Bluetooth connection dropped during the transfer.",
            "{error} indicates the Bluetooth link was interrupted mid-sync.",
            "That {error} code shows the Bluetooth handshake failed partway through.",
        ),
        (
            "Please forget the {product} in your phone's Bluetooth settings, restart both and "
            "pair again from the app.",
            "Unpair the {product} in your phone's Bluetooth menu, power-cycle both, then re-pair "
            "through the app.",
            "Remove the {product} from your phone's Bluetooth list, restart the phone and the "
            "device, and pair it again.",
        ),
        (
            "Version {version} also has a known sync bug, so updating the app should help.",
            "There's a known sync issue in version {version}, so please update the app too.",
            "It's also worth updating, since version {version} has a sync bug we've fixed.",
        ),
    ),
    follow=(
        (
            ("I did all that and it still fails.", "Tried everything, same error."),
            (
                "Please hold the power button for 15 seconds to force a restart and try once "
                "more; if it still fails, we'll replace the {product} under warranty.",
                "Next step is a forced restart: hold the power button for 15 seconds and sync "
                "again. If that doesn't work, we'll swap the {product} under warranty.",
            ),
        ),
        (
            ("Will I lose my saved tracks?", "Are my recorded routes going to be deleted?"),
            (
                "No, tracks stay on the {product} until they sync, so nothing is lost when you "
                "re-pair.",
                "Your routes remain on the {product} until a successful sync, so re-pairing "
                "won't delete them.",
            ),
        ),
    ),
    wrong=("The app doesn't support that device, buy a new one.",),
)

WONT_CHARGE: dict[str, Any] = dict(
    cats=ELECTRONIC,
    ask=(
        (
            "My {product} stopped charging.",
            "The {product} won't charge anymore.",
            "I can't get my {product} to take a charge.",
        ),
        (
            "I bought it in order {order} about {weeks} weeks ago.",
            "It's from order {order}, only {weeks} weeks old.",
            "I got it {weeks} weeks ago (order {order}).",
        ),
        (
            "The light doesn't come on when I plug it in.",
            "Nothing happens when it's plugged in.",
            "Plugging it in does nothing at all.",
        ),
    ),
    answer=(
        (
            "First, try another USB-C cable and a wall adapter instead of a laptop port.",
            "Please test with a different USB-C cable plugged into a wall adapter.",
            "Start by swapping the cable and using a wall charger rather than a computer port.",
        ),
        (
            "Low-power ports often can't wake a fully drained battery.",
            "Computer USB ports may not have enough power to revive a drained battery.",
            "A deeply discharged battery sometimes needs more current than a laptop provides.",
        ),
        (
            "Leave the {product} connected for 30 minutes before checking the light.",
            "Give the {product} 30 minutes on the charger before looking for the indicator.",
            "Allow the {product} 30 minutes of charging before judging the light.",
        ),
        (
            "If it's still dead, the 2-year warranty covers order {order} and we'll replace it.",
            "Still nothing? The 2-year warranty on order {order} applies and we'll replace it.",
            "If that doesn't revive it, we'll replace it under the warranty for order {order}.",
        ),
    ),
    follow=(
        (
            (
                "Do I have to send the old one back first?",
                "Must I return the broken one before the replacement ships?",
            ),
            (
                "No, we'll ship the replacement right away with a prepaid label for the old one.",
                "You don't need to wait; the new one ships now along with a prepaid return label.",
            ),
        ),
        (
            (
                "Can I get a refund instead of a replacement?",
                "Would a refund be possible rather than a new one?",
            ),
            (
                "Yes, since it's within 60 days of delivery, you can choose a full refund of "
                "{amount} instead.",
                "Sure, you're still inside the 60-day window, so a full {amount} refund is an "
                "option.",
            ),
        ),
    ),
    wrong=("Batteries aren't covered, you'll have to buy a new one.",),
)

LATE_DELIVERY: dict[str, Any] = dict(
    cats=None,
    openers=SORRY_OPENERS,
    ask=(
        ("This is ridiculous.", "I'm really frustrated.", "Honestly, I'm pretty annoyed."),
        (
            "I paid for 2-day shipping on order {order} and it's been {late_days} days.",
            "Order {order} was supposed to arrive in 2 days, and it's now day {late_days}.",
            "I paid extra for expedited delivery on order {order}, and {late_days} days later "
            "it's still not here.",
        ),
        (
            "I needed the {product} for a trip this weekend.",
            "The {product} was for a trip I'm leaving on this weekend.",
            "I'm leaving on a trip this weekend and needed the {product} for it.",
        ),
    ),
    answer=(
        (
            "Order {order} was delayed at a {carrier} hub and missed the 2-day promise.",
            "{carrier} held order {order} at a sorting hub, so it missed the expedited window.",
            "Order {order} got stuck at a {carrier} facility and missed the 2-day delivery.",
        ),
        (
            "I've refunded the $14.95 expedited shipping fee to your original payment method.",
            "The $14.95 you paid for expedited shipping has been refunded to your card.",
            "I've returned the $14.95 expedited fee to your original payment.",
        ),
        (
            "Tracking {tracking} now shows delivery tomorrow; if it misses that, I'll overnight "
            "a replacement for free.",
            "It's now scheduled for tomorrow under tracking {tracking}, and if that slips we'll "
            "overnight a new one free.",
            "Tracking {tracking} lists tomorrow; if it's late again, we'll send a replacement "
            "overnight at our expense.",
        ),
    ),
    follow=(
        (
            (
                "What if I'm already gone when it arrives?",
                "I leave Friday morning, what if it comes after that?",
            ),
            (
                "Then leave it unopened and we'll refund the full {amount} when it's returned.",
                "In that case, send it back unopened when you're home and we'll refund the whole "
                "{amount}.",
            ),
        ),
        (
            ("Can I speak to a manager?", "I'd like to escalate this to a supervisor."),
            (
                "Of course. I've escalated it as case {ticket}, and a team lead will email you "
                "within 24 hours.",
                "Sure, I've opened case {ticket} for a supervisor, who will reply by email within "
                "24 hours.",
            ),
        ),
    ),
    wrong=("Shipping times are estimates, we don't refund shipping.",),
)

DAMAGED_ITEM: dict[str, Any] = dict(
    cats=None,
    openers=SORRY_OPENERS,
    ask=(
        (
            "The {product} from order {order} arrived damaged.",
            "My {product} (order {order}) showed up broken.",
            "I just opened order {order} and the {product} is damaged.",
        ),
        (
            "The box was crushed and {damage}.",
            "The packaging was smashed and {damage}.",
            "It looks like it was dropped, and {damage}.",
        ),
        ("I want a replacement.", "Please send a new one.", "I'd like this made right."),
    ),
    answer=(
        (
            "I've shipped a replacement {product} today by expedited delivery at no charge.",
            "A new {product} is going out today with free expedited shipping.",
            "We're sending a replacement {product} today, upgraded to expedited shipping.",
        ),
        (
            "You don't need to return the damaged one; please recycle it.",
            "There's no need to send the broken one back, so feel free to recycle it.",
            "Keep or recycle the damaged unit, since we don't need it returned.",
        ),
        (
            "Tracking will arrive by email within a few hours, and the damage is logged with "
            "{carrier} as case {ticket}.",
            "Expect an email with tracking shortly; I've also filed the damage with {carrier} "
            "under case {ticket}.",
            "You'll get tracking by email soon, and the damage claim with {carrier} is case "
            "{ticket}.",
        ),
    ),
    follow=(
        (
            ("Do you need photos?", "Should I send pictures of the damage?"),
            (
                "Photos help with the carrier claim, so one of the box and one of the {product} "
                "would be great, but the replacement doesn't depend on them.",
                "If it's easy, a picture of the box and the item supports our {carrier} claim; "
                "the replacement ships either way.",
            ),
        ),
        (
            ("Can I get a refund instead?", "I'd rather have my money back."),
            (
                "Of course; I can cancel the replacement and refund the full {amount} to your "
                "original payment method today.",
                "Sure, I'll stop the replacement and refund the whole {amount} to your original "
                "payment today.",
            ),
        ),
    ),
    wrong=("Shipping damage is the carrier's problem, contact them.",),
)

INTENTS: dict[str, dict[str, Any]] = {
    "order_status": ORDER_STATUS,
    "change_address": CHANGE_ADDRESS,
    "start_return": START_RETURN,
    "refund_status": REFUND_STATUS,
    "exchange_size": EXCHANGE_SIZE,
    "double_charge": DOUBLE_CHARGE,
    "promo_code": PROMO_CODE,
    "password_reset": PASSWORD_RESET,
    "guest_order": GUEST_ORDER,
    "product_compare": PRODUCT_COMPARE,
    "back_in_stock": BACK_IN_STOCK,
    "app_sync": APP_SYNC,
    "wont_charge": WONT_CHARGE,
    "late_delivery": LATE_DELIVERY,
    "damaged_item": DAMAGED_ITEM,
}

FOLLOW_UPS = (  # follow-up exchanges that fit any conversation
    (
        ("Do you ship to Canada too?", "Can you also send orders to Canada?"),
        (
            "Yes, we ship to Canada; duties are included at checkout and delivery takes 5-8 "
            "business days.",
            "We do ship to Canada, with duties included in the price and delivery in 5-8 business "
            "days.",
        ),
    ),
    (
        ("Do I earn Trail Points on this order?", "Will this order count toward my Trail Points?"),
        (
            "Yes, every dollar spent earns one Trail Point, and points post once the order is "
            "delivered.",
            "It does: you get one Trail Point per dollar, added to your account after delivery.",
        ),
    ),
    (
        ("Is there a number I can call instead?", "Can I reach you by phone?"),
        (
            "Our phone line is open 8am-6pm Mountain time on weekdays, but chat is usually faster.",
            "You can call us weekdays from 8am to 6pm Mountain time, though chat tends to be "
            "quicker.",
        ),
    ),
    (
        ("Can you send me a summary by email?", "Could I get this in an email too?"),
        (
            "Sure, I've sent a summary of this chat to the email on your account.",
            "Done, a copy of this conversation is on its way to your account email.",
        ),
    ),
    (
        ("How long does standard shipping usually take?", "What's the normal delivery time?"),
        (
            "Standard shipping takes 3-5 business days and is free on orders over $75.",
            "Orders over $75 ship free by standard delivery, which takes 3-5 business days.",
        ),
    ),
)
THANKS = (
    ("Great, thanks for your help!", "Perfect, that's all I needed.", "Thanks, that answers it."),
    (
        "You're welcome! Enjoy your time outdoors.",
        "Glad I could help. Happy trails!",
        "Anytime. Have a great trip!",
    ),
)

REJECTED = {  # worse answers for preference pairs, besides each intent's wrong ones
    "curt": ("Check your email.", "See the FAQ.", "Contact the carrier.", "Just wait."),
    "unhelpful": (
        "I'm not able to help with that. Is there anything else?",
        "I don't have access to that information.",
        "You'll need to figure that out on your side, sorry.",
        "That's handled by another department.",
    ),
    "off_policy": (
        "Honestly, just file a chargeback with your bank; it's faster than dealing with us.",
        "Fine, I'll refund everything right now without checking the order, no questions asked.",
        "You're the third person today asking this. Look it up yourself.",
        "Can you send me your full card number and CVV so I can check?",
    ),
}

# Planted PII: sentences a customer adds, and an agent's echo of them.
USER_PII = {
    "PERSON": ("My name is {name}.", "This is {name}, by the way.", "The order is under {name}."),
    "EMAIL_ADDRESS": (
        "My email is {email}.",
        "The account email is {email}.",
        "You can reach me at {email}.",
    ),
    "PHONE_NUMBER": (
        "My phone number is {phone}.",
        "Call me at {phone} if that's easier.",
        "Text me at {phone} when it's sorted.",
    ),
    "CREDIT_CARD": (
        "I paid with the card {card}.",
        "The card I used was {card}, if that helps.",
        "Card number is {card}.",
    ),
    "LOCATION": (
        "I live at {address}.",
        "Please send it to {address}.",
        "My shipping address is {address}.",
    ),
}
ASSISTANT_PII = {
    "PERSON": ("Thanks, {first}.", "Hi {first}, thanks for the details."),
    "EMAIL_ADDRESS": ("I've noted {email} as your contact email.", "I'll send updates to {email}."),
    "PHONE_NUMBER": ("I've added {phone} as your callback number.",),
    "CREDIT_CARD": ("I can see the charge on card {card}.",),
    "LOCATION": ("I've noted the address {address}.", "Shipping address confirmed: {address}."),
}
FIRST_NAMES = tuple(
    (
        "Maria James Aisha Chen Sofia Liam Priya Mateo Hannah Kwame Elena Noah Yuki Omar Grace "
        "Diego Ingrid Tariq Chloe Ravi Amara Lucas Fatima Owen Mei Jonas Leila Samuel Nadia "
        "Ethan"
    ).split()
)
LAST_NAMES = tuple(
    (
        "Garcia Johnson Okafor Nguyen Rossi Murphy Patel Hernandez Schmidt Mensah Kowalski "
        "Bennett Tanaka Haddad Sullivan Alvarez Larsen Rahman Dubois Kapoor Eze Silva Ali Walsh "
        "Lin Becker Farah Brooks Ivanova Wright"
    ).split()
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
AREA_CODES = ("303", "541", "828", "406", "928", "802", "218", "801", "207", "206", "608", "720")
STREETS = tuple(
    "Alder,Maple,Juniper,Cedar,Aspen,Willow,Spruce,Birch,Pine Ridge,Canyon,Lakeview,Elm".split(",")
)
STREET_TYPES = ("Street", "Avenue", "Road", "Lane", "Drive", "Court")
CITIES = (  # city, state, zip prefix
    ("Boulder", "CO", "803"),
    ("Bend", "OR", "977"),
    ("Asheville", "NC", "288"),
    ("Missoula", "MT", "598"),
    ("Flagstaff", "AZ", "860"),
    ("Burlington", "VT", "054"),
    ("Duluth", "MN", "558"),
    ("Bozeman", "MT", "597"),
    ("Salt Lake City", "UT", "841"),
    ("Portland", "ME", "041"),
    ("Seattle", "WA", "981"),
    ("Madison", "WI", "537"),
)
TEST_CARDS = tuple(  # published, Luhn-valid test numbers
    (
        "4111111111111111 4242424242424242 4012888888881881 5555555555554444 5105105105105100 "
        "378282246310005 371449635398431 6011111111111117 3530111333300000"
    ).split()
)

# Overlong examples: a pasted debug log, or an agent who will not stop.
LOG_INTROS = (
    "The {product} keeps failing to sync. I exported the full debug log from the app:",
    "Here's the complete log from the Ridgeline Trails app after the {product} crashed again:",
)
LOG_OUTROS = ("Can you tell me what's wrong?", "What does all this mean? Is it broken?")
LOG_REPLIES = (
    "Thanks for the log. The repeated GATT timeouts and checksum errors show the {product} is "
    "losing its Bluetooth connection mid-transfer. Please update the app, forget the device in "
    "your phone's Bluetooth settings and pair again; if the errors continue, we'll replace the "
    "{product} under warranty.",
    "The log shows the sync starting fine and then failing with checksum mismatches after a "
    "few hundred blocks, which points to a corrupted track file on the {product}. Export your "
    "routes, run Settings > Storage > Repair on the device and sync again.",
)
LOG_EVENTS = (  # level, component, message, range of {n}
    ("DEBUG", "ble", "connecting to device {device}", 0, 0),
    ("WARN", "ble", "retrying handshake (attempt {n})", 1, 5),
    ("ERROR", "ble", "GATT read timeout after {n} ms", 5000, 30000),
    ("INFO", "sync", "uploaded {n} track points", 50, 900),
    ("DEBUG", "auth", "token refresh ok, expires in {n} s", 600, 3600),
    ("INFO", "power", "battery at {n}%", 5, 100),
    ("ERROR", "storage", "checksum mismatch in block {n}", 1, 4096),
    ("DEBUG", "sync", "queue depth {n}, flushing", 1, 64),
    ("INFO", "gps", "fix acquired with {n} satellites", 4, 14),
    ("DEBUG", "ui", "render frame took {n} ms", 8, 40),
)
RAMBLE = (
    "To recap our policies in full: returns are accepted within 60 days of delivery for unused "
    "or gently tried gear, refunds are issued within 2 business days of the return being "
    "scanned, and your bank may take another 3-5 business days to post it.",
    "Standard shipping is free on orders over $75 and usually takes 3-5 business days, while "
    "expedited shipping costs $14.95 and arrives in 2 business days in most of the continental "
    "United States.",
    "Electronics carry a 2-year warranty, and packs, tents and sleeping bags carry our lifetime "
    "guarantee against manufacturing defects, which covers seams, zippers, buckles and fabric "
    "failures but not ordinary wear.",
    "Trail Points are earned at one point per dollar, post after delivery, and can be redeemed "
    "in blocks of 500 for a $10 reward at checkout, though they cannot be combined with certain "
    "promotions.",
    "If you ever need more help, you can reach us by chat, by email, or by phone on weekdays "
    "from 8am to 6pm Mountain time, and we are always happy to walk through any question again.",
    "Product care matters too: washing technical fabrics with the right detergent, storing "
    "insulation loosely and drying gear before packing it away will extend its life a lot.",
)
RAMBLE_LINKS = ("Also, ", "Just to add, ", "On top of that, ", "To reiterate, ", "One more thing: ")

# The evaluation set: (categories or item names, question, answer, reworded question, reworded
# answer). Only `demo_data`'s planted leaks copy these into training.
GOLDEN_LEADINS = (
    "",
    "Quick question before I order.",
    "I'm planning a backpacking trip next month.",
    "A friend recommended your shop.",
    "I'm pretty new to backpacking.",
    "Shopping for a birthday gift here.",
)
GOLDEN_TAILS = (  # (sentence, reworded); instances of one question get different ones
    ("For reference, the {product} weighs {weight}.", "Just so you know, it weighs {weight}."),
    (
        "It's currently {price} with free standard shipping.",
        "Right now it costs {price}, and standard shipping is free.",
    ),
    ("We have it in {color} ready to ship today.", "The {color} version can go out today."),
    (
        "It's one of our best-reviewed products this season.",
        "Customers rate it among our top products this year.",
    ),
    (
        "Our gear specialists can help with any other questions about it.",
        "If anything else comes up, our gear experts are glad to answer.",
    ),
    (
        "The product page lists its full specifications.",
        "You'll find every spec on its product page.",
    ),
    ("", ""),
)
GOLDEN: tuple[tuple[tuple[str, ...] | None, str, str, str, str], ...] = (
    (
        None,
        "What kind of warranty comes with the {product}?",
        "The {product} is covered by our {warranty}. If something fails, send us photos and "
        "your order number and we will repair or replace it.",
        "If the {product} breaks, what warranty protection do I get?",
        "You get our {warranty} on the {product}. Should it fail, share a few pictures and the "
        "order number, and we'll fix or swap it.",
    ),
    (
        ("apparel", "bag"),
        "How should I wash the {product}?",
        "Machine wash the {product} cold on a gentle cycle with a technical detergent, then "
        "tumble dry low. Skip fabric softener, which clogs the fibers.",
        "What's the right way to clean my {product}?",
        "Use a gentle cold cycle and a detergent made for outdoor fabrics, then dry it on low "
        "heat. Avoid softeners, because they block the fabric's pores.",
    ),
    (
        ("bag", "tent"),
        "How do I store the {product} between trips?",
        "Store the {product} loose and dry in a large mesh sack rather than its compression "
        "sack, so the materials don't stay crushed for months.",
        "What's the best way to keep my {product} in the off-season?",
        "Keep the {product} uncompressed in a roomy breathable bag, fully dried, instead of "
        "leaving it squeezed in the stuff sack.",
    ),
    (
        None,
        "I bought the {product} last week and now it's cheaper. Can I get the difference back?",
        "Yes. If the price of the {product} drops within 14 days of delivery, send us your "
        "order number and we refund the difference to your original payment method.",
        "The {product} went on sale right after I paid full price. Do you do price adjustments?",
        "We do: for price drops within two weeks of delivery, share the order number and the "
        "difference goes back to the card or account you paid with.",
    ),
    (
        None,
        "Can I pay for the {product} with a gift card and a credit card together?",
        "Yes, enter the gift card first at checkout; any remaining balance for the {product} "
        "can go on a credit card.",
        "Is it possible to split the payment for the {product} between a gift card and my card?",
        "Sure. Apply the gift card at checkout, and whatever is left on the {product} is charged "
        "to your credit card.",
    ),
    (
        ("pack", "tent", "apparel", "footwear"),
        "Do you repair the {product} once the warranty is over?",
        "We do. Our repair shop fixes zippers, seams and buckles on the {product} for a flat fee "
        "starting at $25, and we quote anything bigger before starting.",
        "Is there a paid repair service for the {product} after the warranty ends?",
        "Yes, our workshop handles zipper, seam and buckle repairs on the {product} from $25, "
        "with a quote first for larger jobs.",
    ),
    (
        ELECTRONIC,
        "What kind of battery does the {product} use, and can I replace it?",
        "The {product} has a built-in lithium-ion battery. It isn't user-replaceable, but our "
        "service center swaps it for $39 once capacity drops.",
        "Is the battery in the {product} replaceable, and what type is it?",
        "It uses an internal lithium-ion cell that you can't change yourself; our service team "
        "replaces it for $39 when it wears out.",
    ),
    (
        ("cooking",),
        "Can I bring the {product} on a plane?",
        "The {product} itself is allowed in checked or carry-on bags if it is completely clean "
        "of fuel, but gas canisters are banned on flights, so buy fuel at your destination.",
        "Is it OK to fly with the {product}?",
        "You can pack the {product} in either bag as long as there is no fuel residue; fuel "
        "canisters can't fly at all, so pick them up after you land.",
    ),
    (
        ("Down Sleeping Bag", "Synthetic Quilt"),
        "What does the temperature rating on the {product} actually mean?",
        "The rating on the {product} is a lower limit: the temperature at which an average "
        "sleeper stays warm curled up. For comfort, add about 10°F and use an insulated pad.",
        "How should I read the degree rating of the {product}?",
        "That number is the limit where a typical sleeper is still warm in a curled position. "
        "Plan on roughly 10°F above it for comfort, with a good pad under you.",
    ),
    (
        ("tent",),
        "Any tips for pitching the {product} in strong wind?",
        "Pitch the {product} with the narrow end facing the wind, stake the windward corners "
        "first and use every guyline. Keep the door on the sheltered side.",
        "How do I set up the {product} when it's really windy?",
        "Point the low, narrow end of the {product} into the wind, anchor the upwind corners "
        "before anything else, and tie out all the guylines with the door facing away.",
    ),
    (
        ("tent",),
        "Do I need to seam seal the {product} myself?",
        "No, the {product} comes factory seam-taped. Apply seam sealer only if you notice leaks "
        "after several seasons of use.",
        "Does the {product} have to be seam sealed before I use it?",
        "It leaves the factory with taped seams, so no. Only if leaks show up after a few years "
        "would you add sealer.",
    ),
    (
        ("water",),
        "How do I clean the {product} after a trip?",
        "Backflush the {product} with clean water using the included syringe until the flow "
        "improves, then let it dry fully before storing. Never let it freeze while wet.",
        "What maintenance does the {product} need when I get home?",
        "Push clean water backward through the {product} with the syringe that came with it "
        "until it runs fast again, dry it completely, and keep it from freezing when damp.",
    ),
    (
        ("footwear",),
        "How long does it take to break in the {product}?",
        "Most people find the {product} comfortable after 15 to 20 miles of walking. Wear the "
        "pair around town and on short hikes before a long trip.",
        "Does the {product} need a break-in period?",
        "Expect roughly 15-20 miles before the {product} feels fully comfortable, so use the pair "
        "on errands and day hikes before any big outing.",
    ),
    (
        ("apparel",),
        "How does the {product} fit compared to other brands?",
        "The {product} runs true to size with room for a light layer underneath. If you're "
        "between sizes, size up; exchanges are free if the fit isn't right.",
        "Is the sizing of the {product} standard or should I go up?",
        "It fits true to size and leaves space for a thin layer beneath. Between two sizes, "
        "pick the larger one, and swapping sizes costs nothing.",
    ),
    (
        ("footwear",),
        "Does the {product} run narrow or wide?",
        "The {product} fits true to size with a medium-width toe box. If you wear thick socks "
        "or are between sizes, go half a size up.",
        "What's the width like on the {product}?",
        "It has a medium toe box and standard length; with heavy socks or an in-between size, "
        "half a size larger works best.",
    ),
    (
        ("pack",),
        "How do I adjust the {product} to fit my back?",
        "Loosen all straps and put about 10 pounds inside. Tighten the hip belt over your hip "
        "bones first, then the shoulder straps, load lifters and sternum strap.",
        "What's the right order for fitting the {product}?",
        "With everything loose and roughly 10 pounds loaded, cinch the hip belt on your hip "
        "bones, then snug the shoulder straps, then the load lifters, then the chest strap.",
    ),
    (
        ("40L Trekking Pack",),
        "How much weight can the {product} comfortably carry?",
        "The {product} is designed for loads up to about 35 pounds; beyond that the frame and "
        "hip belt stop transferring weight efficiently.",
        "What's the load limit on the {product}?",
        "It carries comfortably up to around 35 pounds. Heavier than that, the frame and belt "
        "can't move the load onto your hips well.",
    ),
    (
        ("pad",),
        "Is the {product} warm enough for winter camping?",
        "The {product} has an R-value of 4.2, enough for three-season trips and mild winter "
        "nights. For snow camping, pair it with a closed-cell foam pad.",
        "Can I use the {product} on snow?",
        "With an R-value of 4.2 it handles shoulder seasons and mild winter conditions; on snow "
        "you'll want a closed-cell foam pad underneath as well.",
    ),
    (
        ("Satellite Messenger",),
        "Do I need a subscription to use the {product}?",
        "Basic GPS functions of the {product} work without a subscription. Satellite messaging "
        "and weather forecasts need a Ridgeline Connect plan, from $14.99 per month.",
        "Is there a monthly fee for the {product}?",
        "Navigation works for free, but sending messages over satellite and getting forecasts "
        "requires a Ridgeline Connect plan starting at $14.99 a month.",
    ),
    (
        ("Rechargeable Headlamp",),
        "How long does the {product} last on a charge?",
        "On its 400-lumen high setting the {product} runs about 4 hours; on low (20 lumens) it "
        "lasts around 60 hours.",
        "What's the battery life of the {product}?",
        "Expect roughly 4 hours at the 400-lumen maximum and up to 60 hours at the 20-lumen low "
        "mode.",
    ),
    (
        ("cooking",),
        "Which fuel canisters work with the {product}?",
        "The {product} works with any standard threaded isobutane-propane canister with an "
        "EN417 valve, so most brands from outdoor stores fit.",
        "What fuel should I buy for the {product}?",
        "Any screw-on isobutane-propane canister (EN417 thread) fits the {product}, whatever the "
        "brand.",
    ),
    (
        ("cooking",),
        "Does the {product} work well in freezing temperatures?",
        "Below about 20°F canister pressure drops, so the {product} gets slower. Keep the "
        "canister in your jacket before cooking and use a winter fuel blend.",
        "Will the {product} still boil water when it's below freezing?",
        "It will, but canister pressure falls under roughly 20°F and output slows. Warm the "
        "canister inside your jacket first and choose a winter blend.",
    ),
    (
        ("Down Jacket",),
        "What happens if the {product} gets wet?",
        "The {product} uses hydrophobic down that keeps most of its loft in light moisture, but "
        "it isn't waterproof; wear a rain shell over it in steady rain.",
        "Can I wear the {product} in the rain?",
        "Its treated down resists dampness and stays lofty in drizzle, yet the jacket isn't "
        "waterproof, so put a shell on top when it really rains.",
    ),
    (
        ("Rain Shell",),
        "Water no longer beads on my {product}. What should I do?",
        "Wash the {product} with a technical cleaner, then tumble dry on medium for 20 minutes "
        "to reactivate the DWR finish. If beading doesn't return, apply a spray-on DWR.",
        "My {product} is wetting out instead of shedding water. How do I fix it?",
        "Clean it with a technical wash and run it through the dryer on medium for about 20 "
        "minutes, which revives the repellent coating; if that fails, spray on a new DWR.",
    ),
    (
        ("2-Person Tent",),
        "Do I need a footprint for the {product}?",
        "It's optional. A footprint protects the floor of the {product} from abrasion on rough "
        "ground, but the floor is durable enough for most campsites without one.",
        "Is a ground sheet necessary with the {product}?",
        "Not strictly. One adds protection against rocks and roots and extends the floor's "
        "life, though the {product} floor holds up fine at typical sites.",
    ),
    (
        None,
        "Can you gift wrap the {product} and include a note?",
        "Yes, choose gift wrap at checkout for $5. We'll print your note on a card and leave "
        "prices off the packing slip for the {product}.",
        "Is gift wrapping available for the {product}, with a message?",
        "It is: add gift wrap for $5 during checkout, and we include your message on a card "
        "and hide the prices on the slip.",
    ),
    (
        None,
        "If the {product} is on backorder, when will I be charged?",
        "For backordered items like the {product}, we only authorize your card at checkout and "
        "capture the payment when the item ships.",
        "When does my card get billed for a backordered {product}?",
        "Checkout just places an authorization; the actual charge for the {product} happens "
        "on the day it ships.",
    ),
    (
        ("Fleece Pullover", "24L Daypack"),
        "Is there a discount if our hiking club orders ten of the {product}?",
        "Yes, orders of 10 or more of the {product} get 15% off through our group sales team. "
        "Fill out the group order form on our website for a quote.",
        "Do you give group pricing for a club order of the {product}?",
        "We do: buying ten or more of the {product} earns 15% off, arranged by our group "
        "sales team through the group order form online.",
    ),
    (
        None,
        "Do you have a trade-in program for old gear if I buy the {product}?",
        "Yes, with Ridgeline Renew you can trade in used gear in good condition for store "
        "credit toward the {product}; we email a prepaid label once you submit photos.",
        "Can I swap my used gear for credit toward the {product}?",
        "Through Ridgeline Renew, gear in good shape earns store credit you can put toward the "
        "{product}. Upload photos and we send a free shipping label.",
    ),
    (
        ("tent", "bag", "40L Trekking Pack"),
        "Can I rent the {product} instead of buying it?",
        "Yes, the {product} rents for $8 per day plus $15 shipping, with a 3-day minimum. "
        "Rental fees count toward buying it if you decide to keep it.",
        "Is renting the {product} an option?",
        "It is: $8 a day, a three-day minimum and a flat $15 for shipping, and what you paid "
        "in rent is credited if you end up buying it.",
    ),
    (
        None,
        "Can I buy the {product} with PayPal or in installments?",
        "Yes, we accept PayPal and Apple Pay, and orders over $50 can be split into four "
        "interest-free payments at checkout.",
        "Do you take PayPal for the {product}, or offer payment plans?",
        "PayPal and Apple Pay both work, and any order above $50 can be paid in four "
        "interest-free installments.",
    ),
    (
        None,
        "Do you offer a military or student discount on the {product}?",
        "Yes, verified students and military members get 10% off full-price items such as the "
        "{product}; verify once on your account page and it applies automatically.",
        "Is there a student or veteran discount for the {product}?",
        "Students and service members get 10% off full-price gear like the {product} after a "
        "one-time verification in your account settings.",
    ),
    (
        None,
        "Can you deliver the {product} to a PO box?",
        "Yes, standard shipping to PO boxes goes through USPS. Expedited shipping isn't "
        "available for PO boxes, and oversized items may need a street address.",
        "Will you ship the {product} to a post office box?",
        "We can, via USPS standard delivery. Faster shipping options don't go to PO boxes, and "
        "bulky items might require a street address.",
    ),
    (
        None,
        "Has the {product} ever been recalled?",
        "No, there are no recalls on the {product}. We post safety notices on our Recalls page "
        "and email every customer who bought an affected item.",
        "Are there any safety recalls for the {product}?",
        "None for the {product}. Any recall would appear on our Recalls page, and buyers of the "
        "affected product get an email directly.",
    ),
)
