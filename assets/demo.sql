-- Sample application data for `lifeboat demo` and the integration tests: a document-signing
-- app with a mixed-case quoted table ("User"), a non-public schema (billing), gapless invoice
-- numbers and integer money (the drill invariants of seed 003), and an audit log whose newest
-- created_at is the freshness reference for RPO.
CREATE TABLE "User" (
    id serial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE documents (
    id bigserial PRIMARY KEY,
    owner_id int NOT NULL REFERENCES "User"(id),
    title text NOT NULL,
    body text NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_owner ON documents (owner_id);
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    document_id bigint REFERENCES documents(id),
    action text NOT NULL,
    meta jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created ON audit_log (created_at);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (
    number int PRIMARY KEY,
    customer_id int NOT NULL REFERENCES "User"(id),
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    issued_at timestamptz NOT NULL
);

INSERT INTO "User" (email, name, created_at)
SELECT 'user' || i || '@example.com',
       (ARRAY['Ana','Bogdan','Chen','Dara','Emil','Farah','Goran','Hana'])[1 + i % 8] || ' ' ||
       (ARRAY['Popescu','Ionescu','Novak','Silva','Meyer','Okafor'])[1 + i % 6],
       now() - (i || ' hours')::interval
FROM generate_series(1, 2000) AS i;

INSERT INTO documents (owner_id, title, body, status, created_at)
SELECT 1 + i % 2000,
       'Agreement ' || i,
       repeat((ARRAY['This agreement is made between the parties. ',
                     'The supplier shall deliver the goods described in annex A. ',
                     'Payment is due within thirty days of the invoice date. ',
                     'Either party may terminate with ninety days written notice. '])[1 + i % 4], 3 + i % 7),
       (ARRAY['draft','pending','completed','rejected'])[1 + i % 4],
       now() - (i || ' minutes')::interval
FROM generate_series(1, 6000) AS i;

INSERT INTO audit_log (document_id, action, meta, created_at)
SELECT 1 + i % 6000,
       (ARRAY['created','sent','opened','signed','completed'])[1 + i % 5],
       jsonb_build_object('ip', '10.0.' || (i % 250) || '.' || (i % 200), 'agent', 'Mozilla/5.0'),
       now() - (i || ' seconds')::interval
FROM generate_series(1, 20000) AS i;

INSERT INTO billing.invoices (number, customer_id, amount_cents, issued_at)
SELECT i, 1 + i % 2000, (i * 7919) % 250000, now() - (i || ' hours')::interval
FROM generate_series(1, 3000) AS i;
