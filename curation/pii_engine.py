"""Presidio engines built offline, and PII found and replaced in batches, in worker processes.

`scrub_batch` is the pure batch function: example texts in, replaced texts and the spans found
out. `scrub_stream` runs it over a stream of batches, in this process or in `workers` processes
that each build their own engine once. spaCy sees whole batches through `nlp.pipe`, and runs
its entity recognizer alone: the tagger, parser and lemmatizer cost two thirds of its time and
Presidio reads none of their output but lemmas (see `_ner_only_engine`).
"""

from __future__ import annotations

import functools
import re
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gristmill import workers as worker_pools
from gristmill.curation.pii_fake import Pseudonyms
from gristmill.curation.pii_models import resolve_model
from gristmill.curation.pii_recognizers import CUE_WORDS, custom_recognizers, tuned_recognizers

LANGUAGE = "en"
DEFAULT_ENTITIES = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE",
                    "IP_ADDRESS", "US_SSN", "LOCATION", "URL")
# what the engine's recognizers can find (a test checks the engine supports each)
KNOWN_ENTITIES = (*DEFAULT_ENTITIES, "ORGANIZATION", "DATE_TIME", "NRP", "CRYPTO", "MAC_ADDRESS",
                  "UUID", "MEDICAL_LICENSE", "UK_NHS", "US_BANK_NUMBER", "US_DRIVER_LICENSE",
                  "US_ITIN", "US_PASSPORT")

_ESCAPES = re.compile(r"\\([ntr])")
_PIPE_BATCH = 64  # texts per spaCy batch: larger ones gain nothing on CPU
Span = tuple[int, int, str]  # start, end, entity type: offsets into the original text


@dataclass(frozen=True)
class Settings:
    """What decides the output; workers build their engine from it."""

    model: str
    entities: tuple[str, ...]
    score_threshold: float
    allow: tuple[str, ...]
    operator: str  # placeholder | pseudonym | drop


@dataclass(frozen=True)
class Scrubbed:
    """One example's outcome: its texts with PII replaced (the input texts when the operator is
    drop or nothing was found), and the spans found in each input text."""

    texts: list[str]
    spans: list[list[Span]]


@contextmanager
def _hidden(*modules: str) -> Iterator[None]:
    """Make `import X` fail for the duration, for modules not imported yet."""
    hidden = [m for m in modules if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for m in hidden:
            del sys.modules[m]


def _import_presidio() -> None:
    # subtle: presidio_analyzer imports transformers at import time (8 s) for an NLP engine this
    # step never uses; hidden, that engine reports itself unavailable and nothing else changes
    with _hidden("transformers"):
        import presidio_analyzer  # noqa: F401
        import presidio_anonymizer  # noqa: F401
    import tldextract

    # subtle: the email recognizer's tldextract would fetch the public suffix list on first use;
    # with no URLs it uses the snapshot it ships with
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def build_analyzer(model: str, ner_only: bool = True):
    """An AnalyzerEngine on a local spaCy model with Presidio's recognizers, tuned, plus ours.
    `ner_only` runs spaCy's entity recognizer alone (see `_ner_only_engine`); False runs the
    model's whole pipeline, as Presidio does by default."""
    _import_presidio()
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    ner = NerModelConfiguration(labels_to_ignore=[
        "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT", "PRODUCT", "EVENT", "WORK_OF_ART",
        "LAW", "LANGUAGE"])
    engine_class = _ner_only_engine() if ner_only else SpacyNlpEngine
    nlp_engine = engine_class(models=[{"lang_code": LANGUAGE, "model_name": resolve_model(model)}],
                              ner_model_configuration=ner)
    nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    registry.load_predefined_recognizers(languages=[LANGUAGE], nlp_engine=nlp_engine)
    for recognizer in tuned_recognizers():
        registry.remove_recognizer(recognizer.name)
        registry.add_recognizer(recognizer)
    for recognizer in custom_recognizers():
        registry.add_recognizer(recognizer)
    # subtle: forms put the label after the number too ("(72) 583-350 office"), and Presidio counts
    # the words after a match from its first token, so six after as well as five before
    return AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=[LANGUAGE],
                          context_aware_enhancer=LemmaContextAwareEnhancer(context_suffix_count=6))


def _ner_only_engine() -> type:
    from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

    class NerOnlyEngine(SpacyNlpEngine):
        """spaCy's entity recognizer alone: in the English models it has its own token vectors,
        so its entities are the full pipeline's, at a third of the cost. The tagger, parser and
        lemmatizer served only the lemmas Presidio matches context words against; lower-case
        words stand in, as Presidio matches context words as substrings ("call" in "calling").
        Context cues that spaCy counts as stop words (CUE_WORDS) are kept as context."""

        def load(self) -> None:
            import spacy

            self.nlp = {m["lang_code"]: spacy.load(m["model_name"], enable=["ner"])
                        for m in self.models}

        def is_stopword(self, word: str, language: str) -> bool:
            return word not in CUE_WORDS and super().is_stopword(word, language)

        def _doc_to_nlp_artifact(self, doc: Any, language: str) -> Any:
            entities, scores = self._get_updated_entities(
                self._get_entities(doc), self._get_scores_for_entities(doc))
            return NlpArtifacts(entities=entities, tokens=doc, tokens_indices=[t.idx for t in doc],
                                lemmas=[t.lower_ for t in doc], nlp_engine=self,
                                language=language, scores=scores)

    return NerOnlyEngine


@functools.cache
def engines(model: str) -> tuple[Any, Any]:
    """One analyzer and anonymizer per process and model: loading them takes seconds."""
    from presidio_anonymizer import AnonymizerEngine

    return build_analyzer(model), AnonymizerEngine()


def analyze_texts(analyzer: Any, texts: list[str], settings: Settings) -> list[list[Span]]:
    """Spans per text through `nlp.pipe`, the allow-list applied and overlaps resolved."""
    found: list[list[Span]] = [[] for _ in texts]
    todo = [i for i, t in enumerate(texts) if t.strip()]
    readable = [_ESCAPES.sub(_unescape, texts[i]) for i in todo]
    artifacts = analyzer.nlp_engine.process_batch(readable, LANGUAGE, batch_size=_PIPE_BATCH)
    for i, (text, nlp_artifacts) in zip(todo, artifacts, strict=True):
        results = analyzer.analyze(text, LANGUAGE, entities=list(settings.entities),
                                   nlp_artifacts=nlp_artifacts,
                                   score_threshold=settings.score_threshold)
        spans = [(*_trimmed(text, r.start, r.end), r.entity_type, r.score) for r in results]
        found[i] = resolve_overlaps([s for s in spans if s[0] < s[1] and
                                     not _allowed(texts[i], s[0], s[1], settings.allow)])
    return found


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """A span without the spaces at its ends (patterns that end at a line's end take them)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _unescape(match: re.Match) -> str:
    # subtle: text from double-encoded JSON holds a literal backslash-n where a line ends, which
    # glues the words on either side into one token; a space and the character it stands for
    # keep the length, so every offset still points into the original text
    return " " + {"n": "\n", "t": "\t", "r": "\r"}[match.group(1)]


def _allowed(text: str, start: int, end: int, allow: tuple[str, ...]) -> bool:
    """Whether the span lies inside an occurrence of an allow-listed term (case-insensitive)."""
    if not allow:
        return False
    lowered = text.lower()
    for term in allow:
        term = term.lower()
        lo = max(0, end - len(term))
        while (at := lowered.find(term, lo, start + len(term))) != -1:
            if at <= start and end <= at + len(term):
                return True
            lo = at + 1
    return False


def resolve_overlaps(found: list[tuple[int, int, str, float]]) -> list[Span]:
    """Non-overlapping spans in text order: overlapping spans of one type merge into their
    union; across types the higher score wins, then the longer span."""
    merged: list[list] = []
    for start, end, kind, score in sorted(found, key=lambda f: (f[2], f[0])):
        if merged and merged[-1][2] == kind and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][3] = max(merged[-1][3], score)
        else:
            merged.append([start, end, kind, score])
    kept: list[Span] = []
    for start, end, kind, _ in sorted(merged, key=lambda m: (-m[3], m[0] - m[1], m[0])):
        if all(end <= s or e <= start for s, e, _ in kept):
            kept.append((start, end, kind))
    return sorted(kept)


def scrub_batch(items: list[tuple[str, list[str]]], settings: Settings) -> list[Scrubbed]:
    """Each item is (seed, texts): an example's id and its texts, which share one set of
    pseudonyms. The pure batch function the workers run."""
    analyzer, anonymizer = engines(settings.model)
    flat = [text for _, texts in items for text in texts]
    found = iter(analyze_texts(analyzer, flat, settings))
    out = []
    for seed, texts in items:
        spans = [next(found) for _ in texts]
        if settings.operator == "drop" or not any(spans):
            out.append(Scrubbed(texts, spans))
        else:
            out.append(Scrubbed(replace(anonymizer, texts, spans, settings.operator, seed), spans))
    return out


def replace(anonymizer: Any, texts: list[str], spans: list[list[Span]], operator: str,
            seed: str) -> list[str]:
    """Texts with each span replaced by Presidio's anonymizer: a typed placeholder, or a
    pseudonym shared by every text of the example."""
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    fakes = Pseudonyms(seed) if operator == "pseudonym" else None
    out = []
    for text, found in zip(texts, spans, strict=True):
        if not found:
            out.append(text)
            continue
        operators = {
            kind: OperatorConfig("custom", {"lambda": functools.partial(fakes, kind)}) if fakes
            else OperatorConfig("replace", {"new_value": f"<{kind}>"})
            for kind in {k for _, _, k in found}}
        results = [RecognizerResult(kind, start, end, 1.0) for start, end, kind in found]
        # subtle: spans are already disjoint; merging ones split by a space would make the
        # replaced text disagree with the spans in the evidence
        out.append(anonymizer.anonymize(text, results, operators,
                                        merge_entities_with_spaces=False).text)
    return out


def scrub_stream(batches: Iterable[list[tuple[str, list[str]]]], settings: Settings,
                 workers: int) -> Iterator[list[Scrubbed]]:
    """`scrub_batch` over each batch, in order; in `workers` processes when more than one.
    At most two batches per worker are in flight, so memory stays flat on any input size."""
    if workers <= 1:
        for batch in batches:
            yield scrub_batch(batch, settings)
        return
    # subtle: spawn, not fork: the caller may hold DuckDB's threads, which a fork would copy
    # mid-lock; each worker pays its own start-up (about 4 s) once
    with worker_pools.executor(workers, "spawn", _start_worker, (settings.model,)) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.submit(scrub_batch, batch, settings))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _start_worker(model: str) -> None:
    # subtle: a worker never needs torch (spaCy's CNN models run on numpy), yet thinc imports it
    # when it can, which costs seconds per worker; hidden for good in this process
    for module in ("torch", "transformers"):
        sys.modules.setdefault(module, None)  # type: ignore[arg-type]
    engines(model)
