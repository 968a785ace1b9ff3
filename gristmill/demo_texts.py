"""What the customers and agents of Ridgeline Outfitters, a fictional online outdoor-gear shop,
say: the functions that fill the text banks of `gristmill.demo_data`. The banks (ITEMS, INTENTS,
GOLDEN, ...) are prose in `demo_texts.json`, read on first use and offered as module attributes.

A template is a string with ``{slot}`` placeholders. A message is a tuple of segments joined by a
space, and a segment is a tuple of alternatives that mean the same thing: picking other alternatives
rewords a message without changing what it says, which is how paraphrases are made. Slot values
that are PII are tracked as character spans while a message is joined, so the labels are exact. The
golden (evaluation) texts share no phrasing with the training texts, so overlap is a planted leak.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cache
from importlib.resources import files
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

_SLOT = re.compile(r"\{(\w+)\}")
_MONTHS = "January February March April May June July August September October November December".split()

Part = tuple[str, str | None]  # text, and the PII entity type (PII_SLOTS) when the text is one


@cache
def _texts() -> SimpleNamespace:
    """The text banks, read once; JSON lists become tuples, as immutable as the banks were."""
    data = json.loads((files("gristmill") / "demo_texts.json").read_text(encoding="utf-8"))
    return SimpleNamespace(**{k: _frozen(v) for k, v in data.items() if not k.startswith("_")})


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return tuple(map(_frozen, value)) if isinstance(value, list) else value


def __getattr__(name: str) -> Any:
    """A text bank as a module attribute, `demo_texts.INTENTS`; importing the module reads none."""
    banks = {} if name.startswith("_") else vars(_texts())
    if name not in banks:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return banks[name]


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

    @property
    def facts(self) -> tuple:
        """What the chat is about: two chats with the same facts in other words are paraphrases."""
        return (self.intent, frozenset(self.slots[k] for k in _fact_slots(self.intent)))


def render(template: str, slots: dict[str, str]) -> list[Part]:
    """The template as parts, each slot value its own part; a missing slot is a KeyError."""
    parts: list[Part] = []
    pos, pii = 0, _texts().PII_SLOTS
    for m in _SLOT.finditer(template):
        parts += [(template[pos : m.start()], None), (slots[m[1]], pii.get(m[1]))]
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


def shop_terms() -> list[str]:
    """The demo shop's own names, which a deployment puts on the PII step's allow-list: its
    name, app, loyalty points, where it ships, carriers and every product (a product line such as "Kestrel"
    reads like a person's name)."""
    t = _texts()
    products = [f"{line} {item[0]}" for line, _ in t.LINES for item in t.ITEMS]
    return ["Ridgeline Outfitters", "Ridgeline Trails", "Trail Points", "Bluetooth", "US", "Canada",
            *t.CARRIERS, *products]


def draw_slots(rng: random.Random, cats: tuple[str, ...] | None) -> dict[str, str]:
    """Consistent values for every non-PII slot, for a product of one of `cats` (any if None)."""
    t = _texts()
    items = [it for it in t.ITEMS if cats is None or it[1] in cats or it[0] in cats]
    item, cat, grams, price = rng.choice(items)
    (line, f), (line2, f2) = rng.sample(t.LINES, 2)
    start = date(2024, 1, 1) + timedelta(rng.randrange(330))
    shipped = start + timedelta(rng.randint(1, 3))
    days, pct = rng.randint(2, 6), rng.choice((10, 15, 20, 25))
    carrier = rng.choice(t.CARRIERS)
    weights = (round(grams * f / 5) * 5, round(grams * f2 / 5) * 5)
    prices = (int(price * f) + 0.95, int(price * f2) + 0.95)
    sizes = t.SIZES.get(cat, t.SIZES["apparel"])
    size = rng.randrange(len(sizes) - 1)
    color, color2 = rng.sample(t.COLORS, 2)
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
        "code": f"{rng.choice(t.CODE_WORDS)}{pct}",
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
        "damage": t.DAMAGE[cat],
        "warranty": t.WARRANTY[0 if cat in t.ELECTRONIC else 1],
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
    t = _texts()
    first, last = rng.choice(t.FIRST_NAMES), rng.choice(t.LAST_NAMES)
    local = rng.choice((f"{first}.{last}", f"{first[0]}{last}{rng.randint(1, 99)}", first + last))
    area, line = rng.choice(t.AREA_CODES), f"01{rng.randint(0, 99):02d}"
    phone = rng.choice(
        (f"({area}) 555-{line}", f"{area}-555-{line}", f"+1 {area} 555 {line}", f"{area}.555.{line}")
    )
    card = rng.choice(t.TEST_CARDS)
    groups = (4, 6, 5) if len(card) == 15 else (4, 4, 4, 4)
    cuts = [sum(groups[:i]) for i in range(len(groups) + 1)]
    sep = rng.choice((" ", "-", ""))
    city, state, zip3 = rng.choice(t.CITIES)
    unit = rng.choice(("", "", f", Apt {rng.randint(1, 30)}{rng.choice('ABCD')}"))
    street = f"{rng.randint(12, 9899)} {rng.choice(t.STREETS)} {rng.choice(t.STREET_TYPES)}"
    return {
        "name": f"{first} {last}",
        "first": first,
        "email": f"{local.lower()}@{rng.choice(t.EMAIL_DOMAINS)}",
        "phone": phone,
        "card": sep.join(card[a:b] for a, b in pairwise(cuts)),
        "address": f"{street}{unit}, {city}, {state} {zip3}{rng.randint(0, 99):02d}",
    }


def _segments(intent: str) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    t = _texts()
    spec = t.INTENTS[intent]
    user = (t.GREETINGS, *spec["ask"], t.USER_CLOSINGS)
    return user, (spec.get("openers", t.OPENERS), *spec["answer"])


@cache
def _fact_slots(intent: str) -> frozenset[str]:
    """The slots an intent's question and answer name, in any of their wordings."""
    user, assistant = _segments(intent)
    templates = [t for seg in (*user[1:-1], *assistant[1:]) for t in seg]
    return frozenset(m[1] for t in templates for m in _SLOT.finditer(t))


def _follow(intent: str, source: str, i: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    t = _texts()
    if source == "intent":
        return t.INTENTS[intent]["follow"][i]
    return t.FOLLOW_UPS[i] if source == "generic" else t.THANKS


def new_spec(rng: random.Random) -> ChatSpec:
    """A random chat: half single-turn, the rest 2-4 user turns; half with a system prompt."""
    t = _texts()
    intent = rng.choice(tuple(t.INTENTS))
    user, assistant = _segments(intent)
    slots = draw_slots(rng, t.INTENTS[intent]["cats"])
    system = rng.randrange(len(t.SYSTEM_PROMPTS)) if rng.random() < 0.5 else None
    extra = rng.choices((0, 1, 2, 3), weights=(50, 25, 15, 10))[0]
    thanks = extra > 0 and rng.random() < 0.3
    refs = [("intent", i) for i in range(len(t.INTENTS[intent]["follow"]))]
    refs += [("generic", i) for i in range(len(t.FOLLOW_UPS))]
    chosen = [refs[k] for k in sorted(rng.sample(range(len(refs)), extra - thanks))]
    chosen += [("thanks", 0)] * thanks
    follows = []
    for source, i in chosen:
        u, a = _follow(intent, source, i)
        follows.append((source, i, rng.randrange(len(u)), rng.randrange(len(a))))
    picks = [tuple(rng.randrange(len(s)) for s in segments) for segments in (user, assistant)]
    close = rng.randrange(len(t.ASSISTANT_CLOSINGS))
    return ChatSpec(intent, slots, system, picks[0], picks[1], tuple(follows), close)


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
        close=other(spec.close, len(_texts().ASSISTANT_CLOSINGS)),
    )


def build(spec: ChatSpec, pii: random.Random | None = None) -> tuple[list[dict], list[dict]]:
    """Messages of a chat and, when `pii` is given, planted PII with its entity spans."""
    t = _texts()
    s = spec.slots
    user, assistant = _segments(spec.intent)
    turns: list[tuple[str, list[list[Part]]]] = []
    if spec.system is not None:
        turns.append(("system", [render(t.SYSTEM_PROMPTS[spec.system], s)]))
    turns.append(("user", [render(seg[p], s) for seg, p in zip(user, spec.user, strict=True)]))
    pieces = [render(seg[p], s) for seg, p in zip(assistant, spec.assistant, strict=True)]
    turns.append(("assistant", pieces))
    for source, i, u, a in spec.follows:
        fu, fa = _follow(spec.intent, source, i)
        turns += [("user", [render(fu[u], s)]), ("assistant", [render(fa[a], s)])]
    turns[-1][1].append(render(t.ASSISTANT_CLOSINGS[spec.close], s))
    if pii:
        _plant_pii(pii, turns)
    messages, entities = [], []
    for index, (role, parts) in enumerate(turns):
        content, spans = join(parts)
        messages.append({"role": role, "content": content})
        entities += [{"type": k, "message": index, "start": a, "end": b} for k, a, b in spans]
    return messages, entities


def _plant_pii(rng: random.Random, turns: list[tuple[str, list[list[Part]]]]) -> None:
    t = _texts()
    slots = draw_pii(rng)
    kinds = rng.sample(tuple(t.USER_PII), rng.choice((1, 1, 2, 2, 3)))
    users = [i for i, (role, _) in enumerate(turns) if role == "user"]
    at = users[0] if rng.random() < 0.7 else rng.choice(users)
    pieces = turns[at][1]
    pos = len(pieces) - 1 if at == users[0] else len(pieces)  # before the customer's sign-off
    pieces[pos:pos] = [render(rng.choice(t.USER_PII[k]), slots) for k in kinds]
    if rng.random() < 0.4:  # the agent echoes it back
        echo = t.ASSISTANT_PII[rng.choice(kinds)]
        turns[at + 1][1].insert(0, render(rng.choice(echo), slots))


def golden_messages(core: int, slots: dict, lead: int, tail: int, reworded: bool = False) -> list[dict]:
    """A golden item: lead-in and question, then the answer and a closing fact."""
    t = _texts()
    _, question, answer, question2, answer2 = t.GOLDEN[core]
    q, a = (question2, answer2) if reworded else (question, answer)
    user, _ = join([render(t.GOLDEN_LEADINS[lead], slots), render(q, slots)])
    end = t.GOLDEN_TAILS[tail][reworded]
    assistant, _ = join([render(a, slots), render(end, slots)])
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
