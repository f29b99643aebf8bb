BEGIN TRANSACTION;
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        REAL NOT NULL,
    name      TEXT NOT NULL,
    role      TEXT NOT NULL,
    action    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    ok        INTEGER NOT NULL,
    ip        TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "audit" VALUES(1,1.79622116651098012924e+09,'shell','-','user.add','{"user": "mgr-wang", "role": "manager"}',1,'local',1);
INSERT INTO "audit" VALUES(2,1.7962211668353619575e+09,'shell','-','user.add','{"user": "staff-li", "role": "staff"}',1,'local',1);
INSERT INTO "audit" VALUES(3,1772420000.0,'staff-li','staff','login','{}',1,'192.168.10.21',1);
INSERT INTO "audit" VALUES(4,1772420010.0,'mgr-wang','-','login','{"reason": "unauthorized"}',0,'192.168.10.99',0);
INSERT INTO "audit" VALUES(5,1772420020.0,'staff-li','staff','counter.open','{"counter": "1", "staff": "李娜", "number": null}',1,'192.168.10.21',0);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (
    digest     TEXT PRIMARY KEY,
    name       TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at REAL NOT NULL,
    seen_at    REAL NOT NULL
);
INSERT INTO "sessions" VALUES('96e3e30302e173313072936957cda33f7fb054962957798d653263998af81fe4','staff-li','wNNUTIlI5rzTKW-fCxYjlVfsCxG5P95O_svIoy6htRI',1772420000.0,1772420000.0);
CREATE TABLE users (
    name         TEXT PRIMARY KEY,
    display      TEXT NOT NULL,
    role         TEXT NOT NULL,
    hash         TEXT NOT NULL,
    created_at   REAL NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    disabled     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "users" VALUES('mgr-wang','mgr-wang','manager','$argon2id$v=19$m=65536,t=3,p=4$m7qhZi+2B39tgwsuB7uZPw$uYDqzgaIlIQ5Ax/xKZWCvjkimy/nxWJ7pj7DkoO7Fss',1.79622116632170391085e+09,1,0.0,0);
INSERT INTO "users" VALUES('staff-li','李娜','staff','$argon2id$v=19$m=65536,t=3,p=4$MoDp7il63ugMb8Qfblnw9A$Q7XCtI+jdauzI5dfgl37t8j50+2umpfGextT63r02qk',1.79622116670962047582e+09,0,0.0,0);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('audit',5);
COMMIT;
