"""PII step quality against labelled spans, and its speed against Presidio's plain per-text loop.

    .venv/bin/python bench/pii.py                 # quality, then 20,000 messages timed
    .venv/bin/python bench/pii.py --n 2000        # a quick run
    .venv/bin/python bench/pii.py --skip-speed    # quality only

Quality, for each installed spaCy model of `--models`: the demo data's planted
PII (labels.jsonl "pii" records; every other chat message holds none) and presidio-evaluator's
fake sentences (`--sentences`, seed 42), their entity types mapped to the step's and types
outside its set ignored. Rule: per entity type, a labelled span is found when a predicted span of
the same type overlaps it (recall), and a predicted span is right when it overlaps a labelled
span of its type (precision); F2 is micro-averaged over the types. The step runs with the demo
shop's own names on its allow-list (`shop_terms`: its name, app, carriers, the countries it
ships to, its products), as a deployment would. Targets: email, phone and card recall >= 0.98,
person >= 0.85, F2 >= 0.80.

Speed: the first `--n` messages of a larger demo set, scrubbed to placeholders by the step's
engine (`nlp.pipe` batches in `--workers` processes) and by the baseline, the same recognizers
and model called text by text (`AnalyzerEngine.analyze` + `AnonymizerEngine.anonymize`, spaCy's
full pipeline). Target: >= 3x faster at equal or better recall on the labelled spans among them.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections import Counter
from pathlib import Path

import orjson

from gristmill.curation.pii import PiiScrub
from gristmill.curation.pii_engine import (
    Settings,
    build_analyzer,
    resolve_overlaps,
    scrub_stream,
)
from gristmill.curation.pii_models import AUTO_MODELS
from gristmill.demo_data import generate
from gristmill.demo_texts import shop_terms
from gristmill.errors import InvalidRecord
from gristmill.example import Example

HERE = Path(__file__).resolve().parent
ALLOW = tuple(shop_terms())
FAKER_TYPES = {  # presidio-evaluator's types -> the step's (others are ignored)
    "PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL_ADDRESS", "PHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN_CODE", "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN", "GPE": "LOCATION", "STREET_ADDRESS": "LOCATION", "ZIP_CODE": "LOCATION",
    "DOMAIN_NAME": "URL",
}
Gold = list[tuple[str, list[tuple[int, int, str]]]]  # (text, labelled spans)


def demo_messages(directory: Path, n_chats: int) -> tuple[list[list[str]], list[list[list]]]:
    """Each valid chat's message texts, and the labelled spans of each message."""
    files = generate(directory, seed=0, n_chats=n_chats)
    labels = {}
    for line in files.labels.read_bytes().splitlines():
        label = orjson.loads(line)
        if label["problem"] == "pii":
            labels[label["line"]] = label["entities"]
    chats, gold = [], []
    for number, line in enumerate(files.chats.read_bytes().splitlines(), 1):
        try:
            example = Example.chat(orjson.loads(line)["messages"])
        except (orjson.JSONDecodeError, KeyError, TypeError, InvalidRecord):
            continue  # a planted malformed line, which ingest rejects too
        texts = [m["content"] for m in example.payload["messages"]]
        spans: list[list] = [[] for _ in texts]
        for e in labels.get(number, ()):
            spans[e["message"]].append((e["start"], e["end"], e["type"]))
        chats.append(texts)
        gold.append(spans)
    return chats, gold


def faker_sentences(n: int) -> Gold:
    from presidio_evaluator.data_generator import PresidioSentenceFaker

    faker = PresidioSentenceFaker("en_US", lower_case_ratio=0.05, random_seed=42)
    return [(s.full_text, [(sp.start_position, sp.end_position, FAKER_TYPES[sp.entity_type])
                           for sp in s.spans if sp.entity_type in FAKER_TYPES])
            for s in faker.generate_new_fake_sentences(n)]


def score(predicted: list[list], gold: list[list], entities: tuple[str, ...]) -> dict[str, Counter]:
    """Per type: tp_gold (labelled spans found), fn, tp_pred (right predictions), fp."""
    counts: dict[str, Counter] = {e: Counter() for e in entities}
    for pred, want in zip(predicted, gold, strict=True):
        want = [g for g in want if g[2] in counts]
        pred = [p for p in pred if p[2] in counts]
        for s, e, kind in want:
            hit = any(k == kind and ps < e and s < pe for ps, pe, k in pred)
            counts[kind]["tp_gold" if hit else "fn"] += 1
        for s, e, kind in pred:
            hit = any(k == kind and gs < e and s < ge for gs, ge, k in want)
            counts[kind]["tp_pred" if hit else "fp"] += 1
    return counts


def report(title: str, counts: dict[str, Counter]) -> float:
    print(f"\n{title}\n{'entity':<14} {'labelled':>8} {'found':>6} {'recall':>7} "
          f"{'predicted':>9} {'precision':>9}")
    total = Counter()
    for kind, c in counts.items():
        total.update(c)
        labelled, predicted = c["tp_gold"] + c["fn"], c["tp_pred"] + c["fp"]
        if labelled or predicted:
            print(f"{kind:<14} {labelled:>8} {c['tp_gold']:>6} {_ratio(c['tp_gold'], labelled):>7} "
                  f"{predicted:>9} {_ratio(c['tp_pred'], predicted):>9}")
    recall = total["tp_gold"] / max(1, total["tp_gold"] + total["fn"])
    precision = total["tp_pred"] / max(1, total["tp_pred"] + total["fp"])
    f2 = 5 * precision * recall / max(1e-9, 4 * precision + recall)
    print(f"{'all':<14} recall {recall:.3f}  precision {precision:.3f}  F2 {f2:.3f}")
    return f2


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "-"


def spans_of(chats: list[list[str]], settings: Settings, workers: int) -> list[list[list]]:
    items = [(str(i), texts) for i, texts in enumerate(chats)]
    batches = (items[i:i + 64] for i in range(0, len(items), 64))
    return [s.spans for batch in scrub_stream(batches, settings, workers) for s in batch]


def quality(settings: Settings, args: argparse.Namespace) -> None:
    print(f"\n=== quality, model {args.model_name}, allow-list {', '.join(settings.allow)}")
    chats, gold = demo_messages(HERE / "data" / "pii_demo", 2000)
    predicted = spans_of(chats, settings, args.workers)
    flat = lambda nested: [m for chat in nested for m in chat]  # noqa: E731
    demo = score(flat(predicted), flat(gold), settings.entities)
    report(f"demo data: {len(chats):,} chats, {sum(map(len, chats)):,} messages", demo)
    sentences = faker_sentences(args.sentences)
    predicted = spans_of([[t] for t, _ in sentences], settings, args.workers)
    fake = score(flat(predicted), [g for _, g in sentences], settings.entities)
    report(f"presidio-evaluator: {len(sentences):,} sentences (seed 42)", fake)
    both = {k: demo[k] + fake[k] for k in demo}
    f2 = report("both", both)
    recall = {k: c["tp_gold"] / max(1, c["tp_gold"] + c["fn"]) for k, c in both.items()}
    print(f"targets: email {recall['EMAIL_ADDRESS']:.3f}, phone {recall['PHONE_NUMBER']:.3f}, "
          f"card {recall['CREDIT_CARD']:.3f} (>= 0.98); person {recall['PERSON']:.3f} (>= 0.85); "
          f"F2 {f2:.3f} (>= 0.80)")


def speed(settings: Settings, args: argparse.Namespace) -> None:
    chats, gold = demo_messages(HERE / "data" / f"pii_speed_{args.n}", args.n // 4 + 100)
    texts, labels = [], []
    for chat, spans in zip(chats, gold, strict=True):
        texts += chat
        labels += spans
    texts, labels = texts[:args.n], labels[:args.n]
    print(f"\nspeed: {len(texts):,} messages, {sum(map(len, texts)) / 1e6:.1f} M characters, "
          f"{sum(map(len, labels))} labelled spans")

    started = time.perf_counter()
    ours = spans_of([[t] for t in texts], settings, args.workers)
    ours_s = time.perf_counter() - started
    ours_recall = _recall(score([s[0] for s in ours], labels, settings.entities))
    print(f"step engine ({args.workers} workers, nlp.pipe): {ours_s:6.1f} s  "
          f"{len(texts) / ours_s:6.0f} messages/s  recall {ours_recall:.3f}  (worker start-up included)")

    base_s, base_recall = baseline(texts, labels, settings)
    print(f"plain analyze + anonymize loop  : {base_s:6.1f} s  {len(texts) / base_s:6.0f} "
          f"messages/s  recall {base_recall:.3f}")
    print(f"ratio (baseline time / step time): {base_s / ours_s:.2f}  (target >= 3, "
          f"recall {ours_recall:.3f} vs {base_recall:.3f})")


def baseline(texts: list[str], labels: list[list], settings: Settings) -> tuple[float, float]:
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig

    analyzer = build_analyzer(settings.model, ner_only=False)
    anonymizer = AnonymizerEngine()
    operators = {e: OperatorConfig("replace", {"new_value": f"<{e}>"}) for e in settings.entities}
    entities = list(settings.entities)
    found = []
    started = time.perf_counter()
    for text in texts:
        results = analyzer.analyze(text, "en", entities=entities,
                                   score_threshold=settings.score_threshold)
        anonymizer.anonymize(text, results, operators)
        # the spans replaced, overlaps resolved as the step resolves them, so both are scored alike
        found.append(resolve_overlaps([(r.start, r.end, r.entity_type, r.score) for r in results]))
    return time.perf_counter() - started, _recall(score(found, labels, settings.entities))


def _recall(counts: dict[str, Counter]) -> float:
    total = sum(counts.values(), Counter())
    return total["tp_gold"] / max(1, total["tp_gold"] + total["fn"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages timed (default 20,000)")
    parser.add_argument("--sentences", type=int, default=1000, help="presidio-evaluator sentences")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", nargs="*", default=list(AUTO_MODELS),
                        help="spaCy models to score, those installed (default: both of `auto`)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    models = [m for m in args.models if importlib.util.find_spec(m)]
    for model in models if not args.skip_quality else []:
        args.model_name = model
        step = PiiScrub(PiiScrub.Config(model=model, allow=ALLOW, operator="drop"))
        quality(step.settings(), args)
    if not args.skip_speed:
        speed(PiiScrub(PiiScrub.Config(operator="placeholder")).settings(), args)


if __name__ == "__main__":
    main()
