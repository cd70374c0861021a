-- bench/dataset-round.sql: one growth round of the benchmark database. dataset.sh runs it with
-- psql -v round=N -v seed=S -v users=.. -v docs=.. -v invoices=.. -v blobs=.. until
-- pg_database_size reaches the target. Everything random comes from setseed(:seed), so a round's
-- content depends only on its parameters and the rows already present.
\set ON_ERROR_STOP on
SELECT setseed(:seed);

BEGIN;

-- Users -----------------------------------------------------------------------------------------
INSERT INTO "User" (email, name, password, "emailVerified", "createdAt", "updatedAt", roles,
                    "identityProvider", "twoFactorEnabled", "customerId", signature)
SELECT lower(fn || '.' || ln || '.' || (:round * :users + g)) || '@' ||
           bench_gen.pick('{gmail.com,outlook.com,proton.me,example.org,acme-corp.com,fastmail.com,web.de,posteo.de}'),
       fn || ' ' || ln,
       CASE WHEN random() < 0.85 THEN '$2a$12$' || substr(md5(random()::text) || md5(random()::text), 1, 53) END,
       CASE WHEN random() < 0.9 THEN created + random() * interval '2 days' END,
       created,
       created + random() * interval '400 days',
       CASE WHEN random() < 0.01 THEN '{USER,ADMIN}'::"Role"[] ELSE '{USER}' END,
       CASE WHEN random() < 0.7 THEN 'DOCUMENSO' WHEN random() < 0.8 THEN 'GOOGLE' ELSE 'OIDC' END,
       random() < 0.12,
       CASE WHEN random() < 0.3 THEN 'cus_' || substr(md5(random()::text), 1, 14) END,
       CASE WHEN random() < 0.2 THEN fn || ' ' || ln END
FROM (
    SELECT g,
           bench_gen.pick('@FIRST@') AS fn,
           bench_gen.pick('@LAST@') AS ln,
           timestamptz '2021-01-01 00:00:00+00' + (:round + random()) * interval '40 days' AS created
    FROM generate_series(1, :users) AS g
) AS u;

-- Documents -------------------------------------------------------------------------------------
INSERT INTO documents (user_id, title, body, status, page_count, size_bytes, amount_cents,
                       created_at, updated_at, completed_at, metadata)
SELECT user_id,
       initcap(bench_gen.words(2 + floor(random() * 7)::int)),
       bench_gen.paragraphs(40 + floor(random() * random() * 1400)::int),
       st,
       pages,
       pages * (20000 + floor(random() * 180000))::bigint,
       CASE WHEN random() < 0.4 THEN (floor(random() * 5000000))::bigint END,
       created,
       created + random() * interval '30 days',
       CASE WHEN st = 'COMPLETED' THEN created + random() * interval '10 days' END,
       jsonb_build_object(
           'source', bench_gen.pick('{upload,template,api,direct-link}'),
           'language', bench_gen.pick('{en,en,en,de,fr,es,pt,nl}'),
           'pages', pages,
           'recipients', (SELECT jsonb_agg(jsonb_build_object(
                              'email', lower(bench_gen.pick('@FIRST@')) || '.' || r || '@' ||
                                       bench_gen.pick('{gmail.com,example.org,acme-corp.com,law-firm.eu}'),
                              'role', bench_gen.pick('{SIGNER,SIGNER,VIEWER,APPROVER,CC}'),
                              'signingOrder', r,
                              'signedAt', CASE WHEN st = 'COMPLETED' THEN created + r * interval '1 hour' END))
                          FROM generate_series(1, 1 + (pages % 4)) AS r),
           'tags', to_jsonb(string_to_array(bench_gen.words(1 + floor(random() * 3)::int), ' ')),
           'checksum', md5(random()::text),
           'redirectUrl', CASE WHEN random() < 0.2 THEN 'https://app.example.org/thanks/' || md5(random()::text) END)
FROM (
    SELECT 1 + floor(random() * (SELECT max(id) FROM "User"))::int AS user_id,
           (ARRAY['DRAFT', 'PENDING', 'COMPLETED', 'COMPLETED', 'COMPLETED', 'REJECTED'])[1 + floor(random() * 6)::int]::"DocumentStatus" AS st,
           1 + floor(random() * random() * 40)::int AS pages,
           timestamptz '2021-01-01 00:00:00+00' + (:round + random()) * interval '40 days' AS created,
           g
    FROM generate_series(1, :docs) AS g
) AS d;

-- Stored PDFs for some of this round's documents ------------------------------------------------
INSERT INTO document_data (document_id, mime_type, data)
SELECT id, 'application/pdf',
       '\x255044462d312e370a'::bytea || bench_gen.rand_bytes((20000 + floor(random() * random() * 400000))::int)
FROM documents
WHERE id > (SELECT coalesce(max(document_id), 0) FROM document_data)
ORDER BY id
LIMIT :blobs;

-- Audit log: 2..8 events per new document ---------------------------------------------------------
INSERT INTO audit_log (document_id, user_id, action, ip_address, user_agent, created_at, data)
SELECT d.id,
       CASE WHEN e = 1 THEN d.user_id END,
       (ARRAY['DOCUMENT_CREATED', 'DOCUMENT_SENT', 'EMAIL_SENT', 'DOCUMENT_OPENED', 'FIELD_INSERTED',
              'DOCUMENT_RECIPIENT_COMPLETED', 'DOCUMENT_COMPLETED', 'EMAIL_SENT'])[e],
       ('10.' || floor(random() * 255)::int || '.' || floor(random() * 255)::int || '.' || floor(random() * 255)::int)::inet,
       bench_gen.pick('{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",'
                      '"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",'
                      '"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",'
                      '"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",'
                      '"documenso-api/1.5 (node)"}'),
       d.created_at + e * random() * interval '6 hours',
       jsonb_build_object('event', e, 'requestId', md5(random()::text), 'recipient', d.metadata -> 'recipients' -> 0 -> 'email',
                          'fieldId', CASE WHEN e = 5 THEN floor(random() * 100000)::int END,
                          'note', CASE WHEN random() < 0.3 THEN bench_gen.words(5 + floor(random() * 20)::int) END)
FROM documents AS d
CROSS JOIN LATERAL generate_series(1, 2 + (d.id % 7)::int) AS e
WHERE d.id > (SELECT coalesce(max(document_id), 0) FROM audit_log);

-- Invoices: gapless numbers continuing from the last one ------------------------------------------
INSERT INTO invoices (number, user_id, issued_at, due_at, currency, total_cents, tax_cents, status, lines)
SELECT base + g, user_id, issued, issued + interval '30 days', currency, total, total * 19 / 100,
       CASE WHEN random() < 0.85 THEN 'PAID' WHEN random() < 0.6 THEN 'OPEN' ELSE 'VOID' END,
       lines
FROM (
    SELECT (SELECT coalesce(max(number), 0) FROM invoices) AS base, g,
           1 + floor(random() * (SELECT max(id) FROM "User"))::int AS user_id,
           timestamptz '2021-01-01 00:00:00+00' + (:round + g::float8 / :invoices) * interval '40 days' AS issued,
           bench_gen.pick('{EUR,EUR,EUR,USD,GBP,CHF}') AS currency,
           lines,
           (SELECT sum((l ->> 'qty')::bigint * (l ->> 'unit_cents')::bigint) FROM jsonb_array_elements(lines) AS l) AS total
    FROM generate_series(1, :invoices) AS g
    CROSS JOIN LATERAL (SELECT bench_gen.invoice_lines(1 + (g % 5)) AS lines) AS il
) AS i;

-- Payments for this round's paid invoices -----------------------------------------------------------
INSERT INTO billing.payments (invoice_number, amount_cents, currency, method, provider_ref, paid_at, raw)
SELECT number, total_cents + tax_cents, currency,
       bench_gen.pick('{card,card,card,sepa_debit,paypal,bank_transfer}'),
       'pi_' || md5(number::text || random()::text),
       issued_at + random() * interval '25 days',
       jsonb_build_object('livemode', true, 'fee_cents', (total_cents + tax_cents) * 14 / 1000 + 25,
                          'last4', lpad(floor(random() * 10000)::int::text, 4, '0'))
FROM invoices
WHERE status = 'PAID'
  AND number > (SELECT coalesce(max(invoice_number), 0) FROM billing.payments)
  AND total_cents + tax_cents > 0;

COMMIT;
