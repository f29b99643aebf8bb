"""Numbered schema migrations. Append; never edit one that has shipped.

``PRAGMA user_version`` records the last one applied; each runs in its own
transaction together with the version bump.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE events (
            seq    INTEGER PRIMARY KEY AUTOINCREMENT,
            id     TEXT NOT NULL UNIQUE,
            ts     TEXT NOT NULL,
            source TEXT NOT NULL,
            topic  TEXT NOT NULL,
            data   TEXT NOT NULL
        );
        CREATE INDEX events_topic ON events(topic, seq);

        -- Replies to requests already applied, so a retried request is answered, not re-applied.
        CREATE TABLE requests (
            id    TEXT PRIMARY KEY,
            topic TEXT NOT NULL,
            reply TEXT NOT NULL,
            at    REAL NOT NULL
        );
        CREATE INDEX requests_at ON requests(at);

        CREATE TABLE tickets (
            id            TEXT PRIMARY KEY,
            day           TEXT NOT NULL,
            series        TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            number        TEXT NOT NULL,
            business      TEXT NOT NULL,
            state         TEXT NOT NULL,
            priority      TEXT NOT NULL,
            queued_at     REAL NOT NULL,
            issued_at     REAL NOT NULL,
            booked_at     REAL,
            called_at     REAL,
            serving_at    REAL,
            finished_at   REAL,
            counter       TEXT,
            target_counter TEXT,
            recalls       INTEGER NOT NULL DEFAULT 0,
            parent_id     TEXT REFERENCES tickets(id),
            customer_kind TEXT,
            customer_hash TEXT,
            customer_masked TEXT,
            customer_name TEXT,
            appointment   TEXT,
            tags          TEXT NOT NULL DEFAULT '[]',
            end_reason    TEXT
        );
        CREATE UNIQUE INDEX tickets_number ON tickets(day, series, seq) WHERE parent_id IS NULL;
        CREATE INDEX tickets_waiting ON tickets(state, business, queued_at);
        CREATE INDEX tickets_day ON tickets(day, business);

        CREATE TABLE counters (
            id            TEXT PRIMARY KEY,
            state         TEXT NOT NULL DEFAULT 'closed',
            staff         TEXT,
            pause_reason  TEXT,
            current_ticket TEXT REFERENCES tickets(id),
            streak_kind   TEXT,
            streak_len    INTEGER NOT NULL DEFAULT 0,
            changed_at    REAL
        );

        -- Why each ticket was called: the rule and the tickets it passed.
        CREATE TABLE calls (
            id        INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket_id TEXT NOT NULL REFERENCES tickets(id),
            counter   TEXT NOT NULL,
            at        REAL NOT NULL,
            rule      TEXT NOT NULL,
            detail    TEXT NOT NULL,
            passed    TEXT NOT NULL
        );
        CREATE INDEX calls_ticket ON calls(ticket_id);

        CREATE TABLE evaluations (
            ticket_id TEXT PRIMARY KEY REFERENCES tickets(id),
            score     INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
            reasons   TEXT NOT NULL,
            at        REAL NOT NULL,
            counter   TEXT,
            staff     TEXT
        );

        CREATE TABLE appointments (
            code          TEXT PRIMARY KEY,
            business      TEXT NOT NULL,
            booked_at     REAL NOT NULL,
            customer_hash TEXT,
            customer_masked TEXT,
            state         TEXT NOT NULL DEFAULT 'booked',
            ticket_id     TEXT REFERENCES tickets(id)
        );
        CREATE INDEX appointments_customer ON appointments(customer_hash, booked_at);

        CREATE TABLE customer_tags (
            hash TEXT PRIMARY KEY,
            tags TEXT NOT NULL
        );

        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        """
        -- HQ sync: per lane, the last seq HQ acknowledged and the highest seq reclaimed from the log.
        CREATE TABLE sync_lanes (
            lane      TEXT PRIMARY KEY,
            acked     INTEGER NOT NULL DEFAULT 0,
            acked_at  REAL,
            reclaimed INTEGER NOT NULL DEFAULT 0
        );

        -- The down bundle in force: one row; its items below, replaced whole by the next bundle.
        CREATE TABLE bundle_applied (
            id           INTEGER PRIMARY KEY CHECK (id = 1),
            version      INTEGER NOT NULL,
            published_at TEXT NOT NULL,
            applied_at   REAL NOT NULL,
            digest       TEXT NOT NULL,
            counts       TEXT NOT NULL
        );
        CREATE TABLE bundle_items (
            kind TEXT NOT NULL,
            key  TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (kind, key)
        );
        """,
    ),
    (
        3,
        """
        -- Alerts raised by the rules; at most one active alert per condition key.
        CREATE TABLE alerts (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            key             TEXT NOT NULL,
            rule            TEXT NOT NULL,
            message         TEXT NOT NULL,
            data            TEXT NOT NULL,
            raised_at       REAL NOT NULL,
            acknowledged_at REAL,
            acknowledged_by TEXT,
            cleared_at      REAL
        );
        CREATE UNIQUE INDEX alerts_active ON alerts(key) WHERE cleared_at IS NULL;
        CREATE INDEX alerts_raised ON alerts(raised_at);

        CREATE TABLE alert_rules (
            name       TEXT PRIMARY KEY,
            enabled    INTEGER NOT NULL,
            threshold  REAL NOT NULL,
            changed_at REAL,
            changed_by TEXT
        );

        -- The latest fact of each kind other services publish (device health, seats, emotion, …).
        CREATE TABLE facts (
            kind   TEXT NOT NULL,
            key    TEXT NOT NULL,
            data   TEXT NOT NULL,
            source TEXT NOT NULL,
            at     REAL NOT NULL,
            PRIMARY KEY (kind, key)
        );
        """,
    ),
    (
        4,
        """
        -- Who was at the counter when the ticket was called (staff reports outlive the event log).
        ALTER TABLE tickets ADD COLUMN staff TEXT;
        """,
    ),
    (
        5,
        """
        -- Forms a clerk pushed to a counter's pad; at most one open (pushed or confirmed) per counter.
        CREATE TABLE forms (
            id           TEXT PRIMARY KEY,
            counter      TEXT NOT NULL,
            ticket_id    TEXT REFERENCES tickets(id),
            template     TEXT NOT NULL,
            state        TEXT NOT NULL,
            data         TEXT NOT NULL,
            pushed_at    REAL NOT NULL,
            confirmed_at REAL,
            ended_at     REAL,
            end_reason   TEXT,
            ended_by     TEXT,
            record_id    TEXT
        );
        CREATE UNIQUE INDEX forms_open ON forms(counter) WHERE state IN ('pushed', 'confirmed');

        -- Signed records: the canonical JSON their digest covers, chained per business day (n = 1, 2, ...).
        CREATE TABLE records (
            id        TEXT PRIMARY KEY,
            day       TEXT NOT NULL,
            n         INTEGER NOT NULL,
            counter   TEXT NOT NULL,
            number    TEXT,
            title     TEXT NOT NULL,
            staff     TEXT,
            form_id   TEXT NOT NULL,
            signed_at REAL NOT NULL,
            body      TEXT NOT NULL,
            rendered  BLOB NOT NULL,
            digest    TEXT NOT NULL,
            UNIQUE (day, n)
        );
        """,
    ),
    (
        6,
        """
        -- Visits a hall brought from its old system (hall history import); the key makes a second import add nothing.
        -- Rows count as history only once their import is done (history_imports.state), so an import is seen whole.
        CREATE TABLE history (
            key         TEXT PRIMARY KEY,
            day         TEXT NOT NULL,
            business    TEXT NOT NULL,
            issued_at   REAL NOT NULL,
            called_at   REAL,
            finished_at REAL,
            counter     TEXT,
            staff       TEXT,
            rating      INTEGER,
            import_id   TEXT NOT NULL,
            imported_at REAL NOT NULL
        );
        CREATE INDEX history_day ON history(day, business);
        CREATE INDEX history_import ON history(import_id);

        CREATE TABLE history_imports (
            import_id TEXT PRIMARY KEY,
            state     TEXT NOT NULL,
            file      TEXT NOT NULL DEFAULT '',
            rows      INTEGER NOT NULL DEFAULT 0,
            added     INTEGER NOT NULL DEFAULT 0,
            at        REAL NOT NULL
        );

        -- Rows of an import still arriving in chunks; history.commit moves them into history a slice at a time.
        CREATE TABLE history_stage (
            import_id   TEXT NOT NULL,
            line        INTEGER NOT NULL,
            key         TEXT NOT NULL,
            day         TEXT NOT NULL,
            business    TEXT NOT NULL,
            issued_at   REAL NOT NULL,
            called_at   REAL,
            finished_at REAL,
            counter     TEXT,
            staff       TEXT,
            rating      INTEGER,
            at          REAL NOT NULL,
            PRIMARY KEY (import_id, line),
            UNIQUE (import_id, key)
        );

        -- What the hall planned: per business day the forecast and staffing plan, and per week the roster.
        CREATE TABLE plans (
            kind     TEXT NOT NULL,
            key      TEXT NOT NULL,
            data     TEXT NOT NULL,
            basis    TEXT NOT NULL,
            saved_at REAL NOT NULL,
            PRIMARY KEY (kind, key)
        );
        """,
    ),
    (
        7,
        """
        -- Tickets are credited to the account signed in at the counter (staff), shown by its display name.
        -- Before, staff held the display name: it stays the key of those rows, and is what they show.
        ALTER TABLE counters ADD COLUMN staff_display TEXT;
        ALTER TABLE tickets ADD COLUMN staff_display TEXT;
        UPDATE counters SET staff_display = staff WHERE staff IS NOT NULL;
        UPDATE tickets SET staff_display = staff WHERE staff IS NOT NULL;
        """,
    ),
    (
        8,
        """
        -- Repair reports the kiosk took (reference numbers per hall day) and HQ's status updates applied.
        CREATE TABLE repairs (
            reference     TEXT PRIMARY KEY,
            day           TEXT NOT NULL,
            kind          TEXT NOT NULL,
            phone         TEXT NOT NULL,
            address       TEXT,
            supply_point  TEXT,
            area          TEXT,
            description   TEXT NOT NULL,
            photos        INTEGER NOT NULL,
            customer_hash TEXT,
            kiosk         TEXT,
            reported_at   REAL NOT NULL,
            state         TEXT NOT NULL,
            note          TEXT NOT NULL DEFAULT '',
            updated_at    REAL NOT NULL
        );
        CREATE INDEX repairs_customer ON repairs(customer_hash, reported_at);
        CREATE TABLE repair_updates (
            update_id INTEGER PRIMARY KEY,
            reference TEXT NOT NULL REFERENCES repairs(reference),
            state     TEXT NOT NULL,
            note      TEXT NOT NULL,
            at        TEXT NOT NULL
        );
        """,
    ),
]
