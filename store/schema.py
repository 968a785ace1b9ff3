"""The store's schema as numbered migrations; each is applied once, in its own transaction.

Examples carry an integer surrogate `key` so that a version's membership is a table of two
integers, which DuckDB compresses to a few bytes a row: versions share example rows, never copy them.
Add a migration at the end; never edit one that has shipped.
"""

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "examples, datasets, versions, lineage, runs",
        """
        CREATE TABLE examples (
            key BIGINT NOT NULL,          -- surrogate key, stable for the life of the store
            id VARCHAR NOT NULL,          -- sha256 of the canonical payload (gristmill.example)
            kind VARCHAR NOT NULL,        -- chat | preference | text
            payload VARCHAR NOT NULL,     -- the canonical JSON itself
            n_chars INTEGER NOT NULL,     -- characters of content, for length statistics
            n_turns INTEGER NOT NULL,     -- user turns
            has_system BOOLEAN NOT NULL,
            run_id BIGINT NOT NULL        -- the run that first stored it
        );
        CREATE TABLE sources (
            example_key BIGINT NOT NULL,
            dataset VARCHAR NOT NULL,
            run_id BIGINT NOT NULL,
            source VARCHAR NOT NULL,      -- an absolute file path, or a producer's name
            position BIGINT,              -- line (JSONL, CSV) or record number (JSON array, Parquet)
            meta VARCHAR                  -- JSON: tags and the record's own extra keys
        );
        CREATE TABLE datasets (
            name VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE versions (
            version_id BIGINT NOT NULL,
            dataset VARCHAR NOT NULL,
            number INTEGER NOT NULL,      -- NAME@number
            parent_id BIGINT,
            step VARCHAR NOT NULL,
            config VARCHAR NOT NULL,      -- JSON
            config_hash VARCHAR NOT NULL,
            code_version VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            run_id BIGINT NOT NULL,
            n_examples BIGINT NOT NULL,
            n_added BIGINT NOT NULL,
            n_removed BIGINT NOT NULL,
            n_transformed BIGINT NOT NULL,
            stats VARCHAR NOT NULL        -- JSON
        );
        CREATE TABLE members (
            version_id BIGINT NOT NULL,
            example_key BIGINT NOT NULL
        );
        CREATE TABLE removals (
            version_id BIGINT NOT NULL,   -- the version the example is missing from
            example_key BIGINT NOT NULL,
            step VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,      -- a short code, e.g. exact_duplicate
            message VARCHAR,
            evidence VARCHAR              -- JSON: the id it duplicates, a similarity, entity types
        );
        CREATE TABLE transforms (
            version_id BIGINT NOT NULL,
            old_key BIGINT NOT NULL,
            new_key BIGINT NOT NULL,
            step VARCHAR NOT NULL,
            evidence VARCHAR
        );
        CREATE TABLE runs (
            run_id BIGINT NOT NULL,
            command VARCHAR NOT NULL,
            config VARCHAR NOT NULL,      -- JSON
            pid INTEGER NOT NULL,
            code_version VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP,
            status VARCHAR NOT NULL,      -- running | ok | failed | interrupted
            stats VARCHAR,                -- JSON
            error VARCHAR
        );
        CREATE TABLE rejects (
            run_id BIGINT NOT NULL,
            source VARCHAR NOT NULL,
            position BIGINT,
            reason VARCHAR NOT NULL
        );
        """,
    ),
    (
        2,
        "curation: splits and the intermediates steps reuse",
        """
        CREATE TABLE splits (
            version_id BIGINT NOT NULL,
            example_key BIGINT NOT NULL,
            split VARCHAR NOT NULL        -- train | val | test
        );
        CREATE TABLE signatures (       -- MinHash signatures by (example, shingling config)
            example_key BIGINT NOT NULL,
            config_hash VARCHAR NOT NULL,
            signature UINTEGER[] NOT NULL
        );
        CREATE TABLE embeddings (       -- sentence embeddings by (example, model, field)
            example_key BIGINT NOT NULL,
            model VARCHAR NOT NULL,
            field VARCHAR NOT NULL,       -- what was embedded, e.g. conversation or prompt
            vector FLOAT[] NOT NULL
        );
        CREATE TABLE clusters (         -- duplicate clusters a dedup step found
            version_id BIGINT NOT NULL,   -- the version the step committed
            step VARCHAR NOT NULL,
            example_key BIGINT NOT NULL,
            kept_key BIGINT NOT NULL,     -- the cluster's survivor
            score DOUBLE                  -- similarity to the survivor (Jaccard, cosine)
        );
        """,
    ),
    (
        3,
        "LLM calls: every request, its response and its retries; the cache by request hash",
        """
        CREATE TABLE llm_calls (
            call_id BIGINT NOT NULL,
            request_hash VARCHAR NOT NULL,  -- sha256 of the model and the request body: the cache key
            run_id BIGINT NOT NULL,
            endpoint VARCHAR NOT NULL,      -- the endpoint config's name
            base_url VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            request VARCHAR NOT NULL,       -- JSON: messages, parameters, response_format (never a key)
            response VARCHAR,               -- JSON: the endpoint's answer as it came
            content VARCHAR,                -- the answer's text
            parsed VARCHAR,                 -- JSON: structured output, when asked for and parsed
            status VARCHAR NOT NULL,        -- ok | unparsed | failed
            error VARCHAR,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            latency_ms DOUBLE,              -- the successful attempt's
            attempts INTEGER NOT NULL,
            retries VARCHAR,                -- JSON: one {error, wait} per failed attempt
            created_at TIMESTAMP NOT NULL
        );
        """,
    ),
    (
        4,
        "model registry: training runs, the examples each saw, stage history",
        """
        CREATE TABLE models (
            model_id BIGINT NOT NULL,
            name VARCHAR NOT NULL,          -- what users type: DATASET-KIND-N, N counting per both
            kind VARCHAR NOT NULL,          -- sft | dpo
            line VARCHAR NOT NULL,          -- the product line stages belong to (default: dataset)
            stage VARCHAR NOT NULL,         -- candidate | staging | production | archived
            status VARCHAR NOT NULL,        -- training | ok | failed | stopped
            parent VARCHAR,                 -- the model it continued (a DPO run's SFT model)
            base_path VARCHAR NOT NULL,
            base_source VARCHAR NOT NULL,
            base_digest VARCHAR NOT NULL,
            adapter_path VARCHAR,
            output_dir VARCHAR NOT NULL,
            versions VARCHAR NOT NULL,      -- JSON: [{version_id, ref, split_source}]
            config VARCHAR NOT NULL,        -- JSON: the resolved config
            code_version VARCHAR NOT NULL,
            packages VARCHAR NOT NULL,      -- JSON: name -> version
            hardware VARCHAR NOT NULL,      -- JSON
            curves VARCHAR,                 -- JSON: {"train": [[step, loss]], "eval": [[step, loss]]}
            metrics VARCHAR,                -- JSON
            pid INTEGER,
            error VARCHAR,
            created_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP
        );
        CREATE TABLE model_examples (
            model_id BIGINT NOT NULL,
            example_key BIGINT NOT NULL,
            split VARCHAR NOT NULL,         -- train | val | dropped
            reason VARCHAR,                 -- why dropped, e.g. too_long
            message VARCHAR                 -- e.g. 3,120 tokens > max_length 2,048
        );
        CREATE TABLE model_stages (
            model_id BIGINT NOT NULL,
            stage VARCHAR NOT NULL,         -- the stage entered
            previous VARCHAR,
            reason VARCHAR,
            entered_at TIMESTAMP NOT NULL, -- (`at` is a reserved word in DuckDB)
            command VARCHAR NOT NULL
        );
        """,
    ),
    (
        5,
        "evals: generated answers cached by (model, prompt, parameters), runs and per-item scores",
        """
        CREATE TABLE eval_outputs (
            output_key VARCHAR NOT NULL,    -- sha256 of the model, the prompt and the parameters
            model VARCHAR NOT NULL,         -- what answered: a registry model, base:DIGEST, an endpoint
            prompt VARCHAR NOT NULL,        -- JSON: the messages sent
            params VARCHAR NOT NULL,        -- JSON: the pinned generation parameters
            output VARCHAR,                 -- the answer (NULL: generation failed, see error)
            error VARCHAR,
            tokens INTEGER,
            call_id BIGINT,                 -- the llm_calls row, for an endpoint's answer
            run_id BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE eval_runs (
            eval_id BIGINT NOT NULL,
            run_id BIGINT NOT NULL,
            suite VARCHAR NOT NULL,
            suite_digest VARCHAR NOT NULL,
            config VARCHAR NOT NULL,        -- JSON: the suite as run
            candidate VARCHAR NOT NULL,
            baseline VARCHAR,
            verdict VARCHAR NOT NULL,       -- pass | warn | fail
            report VARCHAR NOT NULL,        -- JSON: what the HTML, Markdown and JSON reports show
            report_dir VARCHAR,
            override VARCHAR,               -- a recorded reason to pass despite contamination
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE eval_scores (
            eval_id BIGINT NOT NULL,
            task VARCHAR NOT NULL,
            side VARCHAR NOT NULL,          -- candidate | baseline
            example_id VARCHAR NOT NULL,    -- the golden item (content id)
            metric VARCHAR NOT NULL,
            value DOUBLE,                   -- NULL: nothing to score
            detail VARCHAR                  -- JSON: a judge's verdicts with their call ids, a label
        );
        """,
    ),
    (
        6,
        "flywheel: log cursors, log lines and their feedback, forgotten examples, drift, loop stages",
        """
        CREATE TABLE log_cursors (
            fingerprint VARCHAR NOT NULL,   -- sha256 of the file's first line: its identity across
                                            -- renames (rotation) and copies
            source VARCHAR NOT NULL,        -- the SOURCE it was found under
            path VARCHAR NOT NULL,          -- where it was last read
            "offset" BIGINT NOT NULL,       -- bytes of complete lines consumed
            lines BIGINT NOT NULL,          -- lines consumed
            run_id BIGINT NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE log_lines (
            line_key VARCHAR NOT NULL,      -- the request id, else sha256 of the record
            dataset VARCHAR NOT NULL,
            example_key BIGINT NOT NULL,    -- the conversation as stored (PII scrubbed)
            path VARCHAR NOT NULL,          -- file and line where it was read
            line BIGINT NOT NULL,
            fingerprint VARCHAR NOT NULL,
            request_id VARCHAR,
            session_id VARCHAR,
            user_hash VARCHAR,              -- sha256 of the user id: `forget --user` finds it
            model VARCHAR,
            logged_at TIMESTAMP,
            latency_ms DOUBLE,
            pii VARCHAR,                    -- JSON: entity types scrubbed and their counts, no values
            version_id BIGINT,              -- the first version holding it; NULL until one does
            run_id BIGINT NOT NULL
        );
        CREATE TABLE log_feedback (
            feedback_key VARCHAR NOT NULL,  -- what makes a feedback event stored once
            line_key VARCHAR NOT NULL,      -- the log line it is about
            origin VARCHAR NOT NULL,        -- log | review | judge
            thumb VARCHAR,                  -- up | down
            rating DOUBLE,
            score DOUBLE,                   -- a judge's grade
            label VARCHAR,                  -- a reviewer's: good | bad
            correction VARCHAR,             -- a corrected answer (PII scrubbed)
            note VARCHAR,
            path VARCHAR,
            line BIGINT,
            run_id BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE forgotten (
            example_key BIGINT NOT NULL,    -- never again a member of a new version
            selector VARCHAR NOT NULL,      -- what was asked: source=PATH or user=sha256
            reason VARCHAR NOT NULL,
            run_id BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE drift_checks (
            run_id BIGINT NOT NULL,
            dataset VARCHAR NOT NULL,       -- the logs
            reference VARCHAR NOT NULL,     -- the version compared against, e.g. train@4
            model VARCHAR NOT NULL,         -- the embedding model
            n_recent INTEGER NOT NULL,
            n_reference INTEGER NOT NULL,
            centroid_shift DOUBLE NOT NULL, -- cosine distance between the two centroids
            mmd DOUBLE NOT NULL,            -- squared maximum mean discrepancy (RBF kernel)
            p_value DOUBLE NOT NULL,        -- of the MMD, by permutation
            threshold DOUBLE NOT NULL,
            drifted BOOLEAN NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE flywheel_stages (  -- a loop's finished stages, reused while inputs match
            loop VARCHAR NOT NULL,
            turn BIGINT NOT NULL,           -- the `flywheel run` that finished it
            stage VARCHAR NOT NULL,
            input_hash VARCHAR NOT NULL,    -- sha256 of what the stage reads
            inputs VARCHAR NOT NULL,        -- JSON: those inputs, to read why it ran
            output VARCHAR NOT NULL,        -- JSON: what it made (a version, a model, a verdict)
            seconds DOUBLE NOT NULL,
            finished_at TIMESTAMP NOT NULL
        );
        """,
    ),
]

LATEST = MIGRATIONS[-1][0]
