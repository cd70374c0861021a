-- bench/dataset-schema.sql: the application schema of the benchmark database, modelled on a
-- document-signing / e-commerce app (Prisma-style mixed-case names included). Loaded once into an
-- empty database "bench" by dataset.sh; the rows come from dataset-round.sql.

CREATE TYPE "DocumentStatus" AS ENUM ('DRAFT', 'PENDING', 'COMPLETED', 'REJECTED');
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');

CREATE TABLE "User" (
    id                  serial PRIMARY KEY,
    email               text NOT NULL,
    name                text,
    password            text,
    "emailVerified"     timestamptz,
    "createdAt"         timestamptz NOT NULL,
    "updatedAt"         timestamptz NOT NULL,
    roles               "Role"[] NOT NULL DEFAULT '{USER}',
    "identityProvider"  text NOT NULL DEFAULT 'DOCUMENSO',
    "twoFactorEnabled"  boolean NOT NULL DEFAULT false,
    "customerId"        text,
    signature           text
);
CREATE UNIQUE INDEX "User_email_key" ON "User" (email);
CREATE INDEX "User_createdAt_idx" ON "User" ("createdAt");

CREATE TABLE documents (
    id            bigserial PRIMARY KEY,
    user_id       integer NOT NULL REFERENCES "User" (id),
    title         text NOT NULL,
    body          text NOT NULL,
    status        "DocumentStatus" NOT NULL,
    page_count    integer NOT NULL,
    size_bytes    bigint NOT NULL,
    amount_cents  bigint,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    completed_at  timestamptz,
    metadata      jsonb NOT NULL
);
CREATE INDEX documents_user_id_idx ON documents (user_id);
CREATE INDEX documents_status_created_idx ON documents (status, created_at);
CREATE INDEX documents_title_idx ON documents (lower(title));
CREATE INDEX documents_metadata_idx ON documents USING gin (metadata jsonb_path_ops);

-- Signed PDFs kept in the database (the "database" upload transport): mostly incompressible.
CREATE TABLE document_data (
    id           bigserial PRIMARY KEY,
    document_id  bigint NOT NULL REFERENCES documents (id),
    mime_type    text NOT NULL,
    data         bytea NOT NULL
);
CREATE INDEX document_data_document_id_idx ON document_data (document_id);

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    document_id  bigint NOT NULL,
    user_id      integer,
    action       text NOT NULL,
    ip_address   inet,
    user_agent   text,
    created_at   timestamptz NOT NULL,
    data         jsonb NOT NULL
);
CREATE INDEX audit_log_document_id_idx ON audit_log (document_id);
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);
CREATE INDEX audit_log_action_idx ON audit_log (action);

-- Gapless invoice numbers, money as integer cents.
CREATE TABLE invoices (
    number       bigint PRIMARY KEY,
    user_id      integer NOT NULL REFERENCES "User" (id),
    issued_at    timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    currency     char(3) NOT NULL,
    total_cents  bigint NOT NULL CHECK (total_cents >= 0),
    tax_cents    bigint NOT NULL CHECK (tax_cents >= 0),
    status       text NOT NULL,
    lines        jsonb NOT NULL
);
CREATE INDEX invoices_user_id_idx ON invoices (user_id);
CREATE INDEX invoices_issued_at_idx ON invoices (issued_at);

CREATE SCHEMA billing;
CREATE TABLE billing.payments (
    id              bigserial PRIMARY KEY,
    invoice_number  bigint NOT NULL REFERENCES invoices (number),
    amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
    currency        char(3) NOT NULL,
    method          text NOT NULL,
    provider_ref    text NOT NULL,
    paid_at         timestamptz NOT NULL,
    raw             jsonb
);
CREATE UNIQUE INDEX payments_provider_ref_key ON billing.payments (provider_ref);
CREATE INDEX payments_invoice_number_idx ON billing.payments (invoice_number);
CREATE INDEX payments_paid_at_idx ON billing.payments (paid_at);

CREATE VIEW billing.outstanding AS
SELECT i.number, i.user_id, i.total_cents + i.tax_cents AS due_cents,
       coalesce(sum(p.amount_cents), 0) AS paid_cents
FROM invoices i LEFT JOIN billing.payments p ON p.invoice_number = i.number
GROUP BY i.number;

-- Generators used while loading; dataset.sh drops this schema at the end.
CREATE SCHEMA bench_gen;

CREATE FUNCTION bench_gen.pick(a text[]) RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT a[1 + floor(random() * cardinality(a))::int] $$;

CREATE FUNCTION bench_gen.words(n integer) RETURNS text LANGUAGE sql VOLATILE AS $$
SELECT array_to_string(array(
    SELECT w[1 + floor(random() * cardinality(w))::int]
    FROM generate_series(1, n), (SELECT '@WORDS@'::text[] AS w) AS ws), ' ')
$$;

CREATE FUNCTION bench_gen.paragraphs(n integer) RETURNS text LANGUAGE sql VOLATILE AS $$
SELECT string_agg(upper(left(s, 1)) || substr(s, 2) || '.', E'\n\n')
FROM (SELECT bench_gen.words(8 + floor(random() * 60)::int) AS s
      FROM generate_series(1, greatest(1, n / 40))) AS p
$$;

CREATE FUNCTION bench_gen.rand_bytes(n integer) RETURNS bytea LANGUAGE sql VOLATILE AS $$
SELECT substring(decode(string_agg(md5(random()::text), ''), 'hex') FROM 1 FOR n)
FROM generate_series(1, n / 16 + 1)
$$;

CREATE FUNCTION bench_gen.invoice_lines(n integer) RETURNS jsonb LANGUAGE sql VOLATILE AS $$
SELECT jsonb_agg(jsonb_build_object(
    'sku', 'SKU-' || lpad((floor(random() * 99999))::int::text, 5, '0'),
    'description', initcap(bench_gen.words(2 + floor(random() * 5)::int)),
    'qty', 1 + floor(random() * 9)::int,
    'unit_cents', (99 + floor(random() * 49900))::bigint))
FROM generate_series(1, n)
$$;
