# bench/dataset-files.awk: writes the compressible part of the benchmark file tree and prints the
# plan of the incompressible files ("SIZE<TAB>PATH" lines) for dataset.sh to fill from a seeded
# AES-CTR stream. Deterministic: everything comes from srand(seed).
#
#   awk -v root=DIR -v total=BYTES -v seed=N -v words="w1 w2 ..." -v first="..." -v last="..." \
#       -f dataset-files.awk
#
# Budget, as fractions of total (the sum is a little over 1 so the tree reaches at least total):
#   incompressible (about a third): one large archive 0.14, medium PDFs 100 KB-2 MB 0.16,
#                                   small JPEG avatars 5-50 KB 0.03
#   compressible: large CSV export 0.10, large log 0.08, medium logs/CSVs 100 KB-2 MB 0.20,
#                 small HTML/Markdown/JSON 1-50 KB 0.31

function rnd(n) { return int(rand() * n) }                # 0..n-1
function between(lo, hi) { return lo + rnd(hi - lo + 1) }
function skewed(lo, hi) { return lo + int(rand() * rand() * (hi - lo)) }   # mostly small
function pick(arr, n) { return arr[1 + rnd(n)] }
function hex(n,    s, i) { s = ""; for (i = 0; i < n; i++) s = s substr("0123456789abcdef", 1 + rnd(16), 1); return s }
function pad2(n) { return (n < 10 ? "0" : "") n }
function sentence(n,    s, i) {
    s = pick(W, NW)
    s = toupper(substr(s, 1, 1)) substr(s, 2)
    for (i = 1; i < n; i++) s = s " " pick(W, NW)
    return s "."
}
function mkdir_p(dir) {
    if (!(dir in MADE)) { system("mkdir -p '" dir "'"); MADE[dir] = 1 }
}
function dirname(p) { sub(/\/[^\/]*$/, "", p); return p }
function plan_random(path, size) {
    printf "%d\t%s\n", size, path
    random_bytes += size
}
function ts(    y, mo, d) {
    y = 2021 + rnd(4); mo = 1 + rnd(12); d = 1 + rnd(28)
    return sprintf("%d-%s-%sT%s:%s:%s.%03dZ", y, pad2(mo), pad2(d), pad2(rnd(24)), pad2(rnd(60)), pad2(rnd(60)), rnd(1000))
}
function email() { return tolower(pick(F, NF_) "." pick(L, NL)) rnd(9999) "@" pick(DOM, NDOM) }

# Writers: each appends to `path` until it holds about `size` bytes and returns the bytes written.
function write_log(path, size,    n, line) {
    mkdir_p(dirname(path)); n = 0
    while (n < size) {
        line = sprintf("%s %s %s req=%s user=%d path=%s status=%d duration_ms=%d msg=\"%s\"",
                       ts(), pick(LVL, NLVL), pick(SVC, NSVC), hex(12), rnd(200000), pick(PATHS, NPATHS),
                       pick(STATUS, NSTATUS), skewed(1, 3000), sentence(between(3, 14)))
        print line > path; n += length(line) + 1
    }
    close(path); return n
}
function write_csv(path, size,    n, line) {
    mkdir_p(dirname(path)); n = 0
    line = "id,created_at,email,document_title,status,amount_cents,currency,pages"
    print line > path; n += length(line) + 1
    while (n < size) {
        line = sprintf("%d,%s,%s,\"%s\",%s,%d,%s,%d", ++csv_id, ts(), email(), sentence(between(2, 8)),
                       pick(DSTATUS, NDSTATUS), skewed(0, 500000), pick(CUR, NCUR), skewed(1, 40))
        print line > path; n += length(line) + 1
    }
    close(path); return n
}
function write_markdown(path, size,    n, s) {
    mkdir_p(dirname(path)); n = 0
    s = "# " sentence(between(3, 8)); print s > path; n += length(s) + 1
    while (n < size) {
        if (rnd(6) == 0) s = "\n## " sentence(between(2, 6)) "\n"
        else if (rnd(4) == 0) s = "- " sentence(between(4, 16))
        else s = sentence(between(8, 30)) " " sentence(between(8, 30)) " " sentence(between(5, 20))
        print s > path; n += length(s) + 1
    }
    close(path); return n
}
function write_html(path, size,    n, s) {
    mkdir_p(dirname(path)); n = 0
    s = "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>" sentence(4) "</title>\n<style>body{font-family:sans-serif;margin:2em}</style></head>\n<body>"
    print s > path; n += length(s) + 1
    while (n < size) {
        s = "  <div class=\"field\" data-field-id=\"" rnd(100000) "\">\n    <p>" sentence(between(6, 40)) "</p>\n    <span>{{ recipient." pick(W, NW) " }}</span>\n  </div>"
        print s > path; n += length(s) + 1
    }
    print "</body>\n</html>" > path
    close(path); return n + 16
}
function write_json(path, size,    n, s, first_) {
    mkdir_p(dirname(path)); n = 0
    s = sprintf("{\n  \"id\": \"evt_%s\",\n  \"type\": \"%s\",\n  \"created\": \"%s\",\n  \"data\": [", hex(24), pick(EVT, NEVT), ts())
    print s > path; n += length(s) + 1; first_ = 1
    while (n < size) {
        s = sprintf("%s    {\"recipient\": \"%s\", \"role\": \"%s\", \"signedAt\": \"%s\", \"fields\": %d, \"note\": \"%s\"}",
                    first_ ? "" : ",\n", email(), pick(ROLE, NROLE), ts(), rnd(30), sentence(between(3, 12)))
        printf "%s", s > path; n += length(s); first_ = 0
    }
    print "\n  ]\n}" > path
    close(path); return n + 6
}

BEGIN {
    srand(seed)
    NW = split(words, W, " "); NF_ = split(first, F, " "); NL = split(last, L, " ")
    NDOM = split("gmail.com outlook.com proton.me example.org acme-corp.com fastmail.com web.de", DOM, " ")
    NLVL = split("INFO INFO INFO INFO DEBUG WARN ERROR", LVL, " ")
    NSVC = split("web worker mailer signer webhook", SVC, " ")
    NPATHS = split("/api/v1/documents /api/v1/documents/:id /api/v1/templates /sign/:token /api/trpc/document.get /api/health /api/v1/recipients /api/stripe/webhook", PATHS, " ")
    NSTATUS = split("200 200 200 200 201 204 301 400 401 404 500", STATUS, " ")
    NDSTATUS = split("DRAFT PENDING COMPLETED COMPLETED REJECTED", DSTATUS, " ")
    NCUR = split("EUR EUR USD GBP CHF", CUR, " ")
    NEVT = split("document.sent document.opened document.signed document.completed recipient.updated", EVT, " ")
    NROLE = split("SIGNER SIGNER VIEWER APPROVER CC", ROLE, " ")
    KB = 1024; MB = 1024 * 1024
    r = root

    # Incompressible (planned here, written by dataset.sh).
    plan_random(r "/uploads/archive/scans-2023.tar", int(0.14 * total))
    b = 0.16 * total; n = 0
    while (n < b) {
        y = 2021 + rnd(4); mo = pad2(1 + rnd(12))
        s = skewed(100 * KB, 2 * MB)
        plan_random(r "/uploads/" y "/" mo "/" hex(16) ".pdf", s); n += s
    }
    b = 0.03 * total; n = 0
    while (n < b) {
        s = between(5 * KB, 50 * KB)
        plan_random(r "/avatars/" substr(hex(2), 1, 2) "/" hex(20) ".jpg", s); n += s
    }

    # Compressible.
    text_bytes += write_csv(r "/exports/audit-export-2024.csv", int(0.10 * total))
    text_bytes += write_log(r "/logs/archive/app-2023.log", int(0.08 * total))
    b = 0.20 * total; n = 0
    while (n < b) {
        s = skewed(100 * KB, 2 * MB)
        if (rnd(3) == 0) n += write_csv(r "/exports/monthly/" (2021 + rnd(4)) "-" pad2(1 + rnd(12)) "-" hex(6) ".csv", s)
        else n += write_log(r "/logs/" (2021 + rnd(4)) "/app-" pad2(1 + rnd(12)) "-" pad2(1 + rnd(28)) "-" hex(4) ".log", s)
    }
    text_bytes += n
    b = 0.31 * total; n = 0
    while (n < b) {
        s = skewed(1 * KB, 50 * KB); k = rnd(10)
        if (k < 4) n += write_json(r "/webhooks/" (2021 + rnd(4)) "/" pad2(1 + rnd(12)) "/" pad2(1 + rnd(28)) "/evt_" hex(16) ".json", s)
        else if (k < 7) n += write_markdown(r "/notes/" W[1 + rnd(12)] "/" W[1 + rnd(20)] "/" pick(W, NW) "-" hex(4) ".md", s)
        else n += write_html(r "/templates/" W[1 + rnd(15)] "/" hex(10) ".html", s)
        small_files++
    }
    text_bytes += n
    printf "awk: text %d bytes (%d small files), random planned %d bytes\n", text_bytes, small_files, random_bytes > "/dev/stderr"
}
