"""Step names and where each step lives. Kept free of imports so that `gristmill --help` can list
the steps without loading pydantic, presidio or torch."""

STEPS: dict[str, str] = {  # name -> module:Class, in the seeds' order
    "pii": "pii:PiiScrub",
    "exact_dedup": "exact:ExactDedup",
    "minhash_dedup": "minhash:MinHashDedup",
    "semantic_dedup": "semantic:SemanticDedup",
    "structure": "filters:StructureFilter",
    "length": "filters:LengthFilter",
    "repetition": "filters:RepetitionFilter",
    "refusals": "filters:RefusalFilter",
    "json_valid": "filters:JsonFilter",
    "leakage": "leakage:LeakageStep",
    "split": "split:Split",
}
