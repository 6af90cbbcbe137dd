/* audit.c - the tamper-evident audit bundle and its verifier.
 *
 * Each file is CSV: a header "seq,<columns>,chain", then one line per
 * record "<seq>,<fields>,<chain>" where
 *     chain_0 = sha256_hex("tally-audit-1\n" name "\n" header)
 *     chain_i = sha256_hex(chain_{i-1} "\n" <the line without ",<chain>">)
 * so an edited, missing, added or reordered line breaks the chain at a spot
 * the verifier can name. manifest.json lists every file's SHA-256, row
 * count, chain start and head, the period, the generation time and the head
 * of the audit log's own hash chain (migrations/0003_reports.sql), and is
 * sealed by the SHA-256 of those values. Backslash, CR and LF inside values
 * are written as \\, \r and \n so that a record is always one line.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

#define AUDIT_FORMAT "tally-audit-1"

/* The bundle's files, in the order of enum ledger_export: each one's name,
 * CSV header and statement are declared together in ledger/audit.c. */
#define N_AUDIT_FILES LEDGER_EXPORT_COUNT

/* ---- hashing ----------------------------------------------------------------- */

/* sha256_hex(a "\n" b) (a may be NULL: just b). */
static void sha_join(const char *a, const char *b, size_t blen, char out[65])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL) ||
	    (a && (!EVP_DigestUpdate(c, a, strlen(a)) || !EVP_DigestUpdate(c, "\n", 1))) ||
	    !EVP_DigestUpdate(c, b, blen) || !EVP_DigestFinal_ex(c, d, &dl))
		dl = 0;
	EVP_MD_CTX_free(c);
	hex_encode(d, dl, out);
	if (dl == 0)
		out[0] = '\0';
}

static int file_sha256(const char *path, char out[65], struct tally_err *err)
{
	unsigned char buf[65536], d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	size_t n;
	FILE *fp = fopen(path, "rb");
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int rc = -1;

	if (!fp || !c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
		tally_err_set(err, TALLY_EIO, false, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
		if (!EVP_DigestUpdate(c, buf, n))
			goto out;
	if (ferror(fp) || !EVP_DigestFinal_ex(c, d, &dl)) {
		tally_err_set(err, TALLY_EIO, false, "cannot read %s", path);
		goto out;
	}
	hex_encode(d, dl, out);
	rc = 0;
out:
	if (fp)
		fclose(fp);
	EVP_MD_CTX_free(c);
	return rc;
}

static void chain_start(const char *name, const char *header, char out[65])
{
	char pre[256];
	snprintf(pre, sizeof pre, AUDIT_FORMAT "\n%s", name);
	sha_join(pre, header, strlen(header), out);
}

/* ---- export ------------------------------------------------------------------ */

/* A value as written: \ CR LF escaped, then CSV-quoted when needed. */
static void audit_field(struct sbuf *b, const char *v)
{
	struct sbuf e;

	if (!v)
		return;
	if (!strpbrk(v, "\\\r\n")) {
		report_csv_field(b, v);
		return;
	}
	sbuf_init(&e);
	for (const char *p = v; *p; p++) {
		if (*p == '\\')
			sbuf_puts(&e, "\\\\");
		else if (*p == '\n')
			sbuf_puts(&e, "\\n");
		else if (*p == '\r')
			sbuf_puts(&e, "\\r");
		else
			sbuf_putc(&e, *p);
	}
	sbuf_putc(&e, '\0');
	report_csv_field(b, e.oom ? "" : e.p);
	sbuf_cleanup(&e);
}

struct audit_writer {
	FILE *fp;
	struct sbuf line;
	char chain[65];
	int64_t rows;
	bool components; /* the last column is a components text */
};

/* A call's components text as one cell per component and figure
 * (quantities, then billed, then list), empty where 0. */
static int components_cells(struct sbuf *b, const char *text, struct tally_err *err)
{
	struct call_price p;

	if (ledger_components_parse(text, &p, err) < 0)
		return -1;
	const int64_t *figures[3] = {p.qty, p.cost, p.list};
	for (int f = 0; f < 3; f++)
		for (int k = 0; k < PC_COUNT; k++) {
			sbuf_putc(b, ',');
			if (figures[f][k] != 0)
				sbuf_i64(b, figures[f][k]);
		}
	return 0;
}

static int audit_row(void *ctx, int ncols, const char *const *v, struct tally_err *err)
{
	struct audit_writer *w = ctx;
	int plain = w->components ? ncols - 1 : ncols;

	sbuf_reset(&w->line);
	sbuf_printf(&w->line, "%lld", (long long)(w->rows + 1));
	for (int i = 0; i < plain; i++) {
		sbuf_putc(&w->line, ',');
		audit_field(&w->line, v[i]);
	}
	if (w->components && components_cells(&w->line, v[plain], err) < 0)
		return -1;
	if (w->line.oom)
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	sha_join(w->chain, w->line.p, w->line.len, w->chain);
	if (fwrite(w->line.p, 1, w->line.len, w->fp) != w->line.len ||
	    fprintf(w->fp, ",%s\n", w->chain) < 0)
		return tally_err_set(err, TALLY_EIO, false, "cannot write: %s", strerror(errno));
	w->rows++;
	return 0;
}

/* Writes path through path.partial + rename. */
static int finish_file(FILE *fp, const char *tmp, const char *path, struct tally_err *err)
{
	if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
		fclose(fp);
		return tally_err_set(err, TALLY_EIO, false, "cannot finish %s: %s", tmp,
		                     strerror(errno));
	}
	if (fclose(fp) != 0 || rename(tmp, path) != 0)
		return tally_err_set(err, TALLY_EIO, false, "cannot finish %s: %s", path,
		                     strerror(errno));
	return 0;
}

struct file_sum {
	int64_t rows;
	char sha[65], start[65], head[65];
};

static int export_file(struct ledger *lg, const char *dir, int which, int64_t from_us,
                       int64_t to_us, struct file_sum *sum, struct tally_err *err)
{
	const struct ledger_export_file *f = ledger_export_file(which);
	char path[PATH_MAX], tmp[PATH_MAX + 16], header[1024];
	struct audit_writer w = {.components = f->components};
	int rc = -1;

	snprintf(header, sizeof header, "seq,%s,chain", f->columns);
	if (snprintf(path, sizeof path, "%s/%s", dir, f->name) >= (int)sizeof path)
		return tally_err_set(err, TALLY_EINVAL, false, "path too long: %s", dir);
	snprintf(tmp, sizeof tmp, "%s.partial", path);
	if (!(w.fp = fopen(tmp, "w")))
		return tally_err_set(err, TALLY_EIO, false, "cannot create %s: %s", tmp,
		                     strerror(errno));
	sbuf_init(&w.line);
	chain_start(f->name, header, w.chain);
	memcpy(sum->start, w.chain, 65);
	fprintf(w.fp, "%s\n", header);
	if (ledger_export_stream(lg, which, from_us, to_us, audit_row, &w, err) < 0) {
		fclose(w.fp);
		unlink(tmp);
		goto out;
	}
	if (finish_file(w.fp, tmp, path, err) < 0) {
		unlink(tmp);
		goto out;
	}
	sum->rows = w.rows;
	memcpy(sum->head, w.chain, 65);
	rc = file_sha256(path, sum->sha, err);
out:
	sbuf_cleanup(&w.line);
	return rc;
}

/* The seal: SHA-256 over the manifest's values in a fixed order. */
static void manifest_seal(const char *from, const char *to, const char *gen, long long seq,
                          const char *head, const char *const *names, const struct file_sum *s,
                          size_t n, char out[65])
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_printf(&b, AUDIT_FORMAT "|%s|%s|%s|%lld|%s|", from, to, gen, seq, head);
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&b, "%s|%lld|%s|%s|%s|", names[i], (long long)s[i].rows, s[i].sha,
		            s[i].start, s[i].head);
	sha_join(NULL, b.p ? b.p : "", b.len, out);
	sbuf_cleanup(&b);
}

int report_audit_export(struct ledger *lg, int64_t from_us, int64_t to_us, const char *dir,
                        struct sbuf *summary, struct tally_err *err)
{
	char from[40], to[40], gen[40], head[65], seal[65], path[PATH_MAX], tmp[PATH_MAX + 16];
	const char *names[N_AUDIT_FILES];
	struct file_sum sums[N_AUDIT_FILES];
	int64_t seq = 0;
	FILE *fp;

	memset(sums, 0, sizeof sums);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return tally_err_set(err, TALLY_EIO, false, "cannot create %s: %s", dir,
		                     strerror(errno));
	time_format(from_us, from);
	time_format(to_us, to);
	time_format(time_now_us(), gen);
	/* One snapshot for every file, so that they agree with each other. */
	if (ledger_snapshot_begin(lg, err) < 0)
		return -1;
	if (ledger_audit_head(lg, &seq, head, err) < 0)
		goto fail;
	for (int i = 0; i < N_AUDIT_FILES; i++) {
		names[i] = ledger_export_file(i)->name;
		if (export_file(lg, dir, i, from_us, to_us, &sums[i], err) < 0)
			goto fail;
	}
	ledger_snapshot_end(lg);

	manifest_seal(from, to, gen, (long long)seq, head, names, sums, N_AUDIT_FILES, seal);
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	snprintf(tmp, sizeof tmp, "%s.partial", path);
	if (!(fp = fopen(tmp, "w")))
		return tally_err_set(err, TALLY_EIO, false, "cannot create %s: %s", tmp,
		                     strerror(errno));
	fprintf(fp,
	        "{\n  \"format\": \"" AUDIT_FORMAT "\",\n  \"period\": {\"from\": \"%s\", \"to\":"
	        " \"%s\"},\n  \"generated_at\": \"%s\",\n  \"audit_chain_head\": {\"chain_seq\":"
	        " %lld, \"hash\": \"%s\"},\n  \"files\": [\n",
	        from, to, gen, (long long)seq, head);
	for (size_t i = 0; i < N_AUDIT_FILES; i++)
		fprintf(fp,
		        "    {\"name\": \"%s\", \"rows\": %lld, \"sha256\": \"%s\","
		        " \"chain_start\": \"%s\", \"chain_head\": \"%s\"}%s\n",
		        names[i], (long long)sums[i].rows, sums[i].sha, sums[i].start, sums[i].head,
		        i + 1 < N_AUDIT_FILES ? "," : "");
	fprintf(fp, "  ],\n  \"seal\": \"%s\"\n}\n", seal);
	if (finish_file(fp, tmp, path, err) < 0) {
		unlink(tmp);
		return -1;
	}
	if (summary)
		for (size_t i = 0; i < N_AUDIT_FILES; i++)
			sbuf_printf(summary, "%-18s %10lld rows  sha256 %s\n", names[i],
			            (long long)sums[i].rows, sums[i].sha);
	if (summary)
		sbuf_printf(summary, "manifest.json      audit chain head %lld %s\n",
		            (long long)seq, head);
	return 0;
fail:
	ledger_snapshot_end(lg);
	return -1;
}

/* ---- verify ------------------------------------------------------------------ */

/* Splits one CSV line into fields (unquoting, then undoing \\ \r \n).
 * Returns the count, or -1 on malformed quoting; fields are malloc'd. */
static int csv_split(const char *line, char **fields, int max)
{
	int n = 0;
	const char *p = line;

	for (;;) {
		struct sbuf f;
		sbuf_init(&f);
		if (*p == '"') {
			p++;
			for (;;) {
				if (!*p) {
					sbuf_cleanup(&f);
					goto bad;
				}
				if (*p == '"' && p[1] == '"') {
					sbuf_putc(&f, '"');
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else
					sbuf_putc(&f, *p++);
			}
		} else
			while (*p && *p != ',')
				sbuf_putc(&f, *p++);
		sbuf_putc(&f, '\0');
		report_csv_unmark(f.p);
		/* Undo the line-safe escapes. */
		char *s = f.p, *d = f.p;
		for (; s && *s; s++) {
			if (*s == '\\' && s[1]) {
				s++;
				*d++ = *s == 'n' ? '\n' : *s == 'r' ? '\r' : *s;
			} else
				*d++ = *s;
		}
		if (d)
			*d = '\0';
		if (n == max) {
			sbuf_cleanup(&f);
			goto bad;
		}
		fields[n++] = f.p;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p)
			goto bad;
		return n;
	}
bad:
	for (int i = 0; i < n; i++)
		free(fields[i]);
	return -1;
}

/* The audit log rows must chain as the ledger chained them. */
static int check_audit_log_row(const char *content, char *prev_hash, int64_t seq, struct sbuf *msg)
{
	char *f[16], want[65];
	int n = csv_split(content, f, 16), rc = 0;

	if (n != 10) {
		sbuf_printf(msg, "audit_log.csv: record %lld: malformed line", (long long)seq);
		rc = 1;
		goto out;
	}
	/* seq, chain_seq, id, ts_us, ts, actor, action, details, prev_hash, hash */
	struct sbuf b;
	sbuf_init(&b);
	sbuf_printf(&b, "%s|%s|%s|%s|%s|%s", f[8], f[2], f[3], f[5], f[6], f[7]);
	sha_join(NULL, b.p ? b.p : "", b.len, want);
	sbuf_cleanup(&b);
	if (strcmp(want, f[9]) != 0) {
		sbuf_printf(msg,
		            "audit_log.csv: record %lld (audit_log id %s): its hash does not match"
		            " its content: the audit log row was changed",
		            (long long)seq, f[2]);
		rc = 1;
	} else if (prev_hash[0] && strcmp(prev_hash, f[8]) != 0) {
		sbuf_printf(msg,
		            "audit_log.csv: record %lld (audit_log id %s): prev_hash does not match"
		            " the record before it: an audit log row is missing or out of order",
		            (long long)seq, f[2]);
		rc = 1;
	}
	str_copy(prev_hash, 65, f[9]);
out:
	for (int i = 0; i < n; i++)
		free(f[i]);
	return rc;
}

struct vline {
	int64_t seq;   /* -1 when unreadable */
	char *content; /* the line without ",<chain>" */
	char chain[65];
};

static void vlines_free(struct vline *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].content);
	free(v);
}

/* Reads a file's lines (header apart). */
static int read_lines(const char *path, char **header, struct vline **out, size_t *n,
                      struct tally_err *err)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, nv = 0, capv = 0;
	ssize_t len;
	struct vline *v = NULL;

	*header = NULL;
	if (!fp)
		return tally_err_set(err, TALLY_EIO, false, "%s", strerror(errno));
	while ((len = getline(&line, &cap, fp)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (!*header) {
			*header = strdup(line);
			continue;
		}
		if (nv == capv) {
			size_t nc = capv ? capv * 2 : 1024;
			struct vline *nvp = realloc(v, nc * sizeof *v);
			if (!nvp)
				break;
			v = nvp;
			capv = nc;
		}
		struct vline *l = &v[nv++];
		char *comma = strrchr(line, ',');
		l->chain[0] = '\0';
		if (comma && strlen(comma + 1) == 64) {
			memcpy(l->chain, comma + 1, 65);
			*comma = '\0';
		}
		l->content = strdup(line);
		char *end;
		long long s = strtoll(line, &end, 10);
		l->seq = end != line && *end == ',' && s > 0 ? s : -1;
	}
	free(line);
	fclose(fp);
	*out = v;
	*n = nv;
	if (!*header)
		*header = strdup("");
	return 0;
}

/* Checks one file against its manifest entry; 1 with msg set when not intact. */
static int verify_file(const char *dir, cJSON *entry, struct sbuf *msg, struct tally_err *err)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(entry, "name"));
	const char *sha = cJSON_GetStringValue(cJSON_GetObjectItem(entry, "sha256"));
	const char *start = cJSON_GetStringValue(cJSON_GetObjectItem(entry, "chain_start"));
	const char *head = cJSON_GetStringValue(cJSON_GetObjectItem(entry, "chain_head"));
	cJSON *rows_j = cJSON_GetObjectItem(entry, "rows");
	char path[PATH_MAX], got[65], chain[65], prev_hash[65] = "";
	char *header = NULL;
	struct vline *v = NULL;
	size_t n = 0;
	int rc = 1;

	if (!name || !sha || !start || !head || !cJSON_IsNumber(rows_j) || strchr(name, '/')) {
		sbuf_printf(msg, "manifest.json: a file entry is malformed");
		return 1;
	}
	int64_t rows = (int64_t)rows_j->valuedouble;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (access(path, F_OK) != 0) {
		sbuf_printf(msg, "%s: missing (listed in the manifest)", name);
		return 1;
	}
	if (read_lines(path, &header, &v, &n, err) < 0)
		return -1;
	chain_start(name, header, chain);
	if (strcmp(chain, start) != 0) {
		sbuf_printf(msg, "%s: line 1 (the header) was edited", name);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t want = (int64_t)i + 1;
		struct vline *l = &v[i];
		if (l->seq == want) {
			char c[65];
			sha_join(chain, l->content, strlen(l->content), c);
			if (strcmp(c, l->chain) != 0) {
				sbuf_printf(
				    msg,
				    "%s: record %lld (line %zu) was edited: it does not match"
				    " its chain hash",
				    name, (long long)want, i + 2);
				goto out;
			}
			if (strcmp(name, "audit_log.csv") == 0 &&
			    check_audit_log_row(l->content, prev_hash, want, msg))
				goto out;
			memcpy(chain, c, 65);
			continue;
		}
		if (l->seq < 0) {
			sbuf_printf(msg,
			            "%s: line %zu is not a record of the export (added or edited)",
			            name, i + 2);
			goto out;
		}
		if (l->seq < want) {
			sbuf_printf(msg, "%s: line %zu repeats record %lld: an added record", name,
			            i + 2, (long long)l->seq);
			goto out;
		}
		bool later = false;
		for (size_t j = i + 1; j < n && !later; j++)
			later = v[j].seq == want;
		if (later)
			sbuf_printf(msg,
			            "%s: records reordered: line %zu holds record %lld where record"
			            " %lld belongs",
			            name, i + 2, (long long)l->seq, (long long)want);
		else
			sbuf_printf(msg, "%s: record %lld is missing (line %zu holds record %lld)",
			            name, (long long)want, i + 2, (long long)l->seq);
		goto out;
	}
	if ((int64_t)n < rows) {
		sbuf_printf(msg,
		            "%s: record %lld is missing (the file ends after %zu records of"
		            " %lld)",
		            name, (long long)n + 1, n, (long long)rows);
		goto out;
	}
	if ((int64_t)n > rows) {
		sbuf_printf(msg, "%s: record %lld (line %lld) was added: the manifest lists %lld",
		            name, (long long)rows + 1, (long long)rows + 2, (long long)rows);
		goto out;
	}
	if (strcmp(chain, head) != 0) {
		sbuf_printf(msg, "%s: the chain head differs from the manifest", name);
		goto out;
	}
	if (file_sha256(path, got, err) < 0) {
		rc = -1;
		goto out;
	}
	if (strcmp(got, sha) != 0) {
		sbuf_printf(msg,
		            "%s: SHA-256 differs from the manifest (bytes outside the"
		            " records changed)",
		            name);
		goto out;
	}
	rc = 0;
out:
	free(header);
	vlines_free(v, n);
	return rc;
}

static char *slurp(const char *path, struct tally_err *err)
{
	FILE *fp = fopen(path, "rb");
	struct sbuf b;
	char buf[8192];
	size_t n;

	if (!fp) {
		tally_err_set(err, TALLY_EIO, false, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	sbuf_init(&b);
	while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
		sbuf_append(&b, buf, n);
	fclose(fp);
	sbuf_putc(&b, '\0');
	if (b.oom) {
		sbuf_cleanup(&b);
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	return b.p;
}

int report_audit_verify(const char *dir, struct sbuf *msg, struct tally_err *err)
{
	char path[PATH_MAX], seal[65];
	char *text;
	cJSON *m = NULL;
	int rc = 1;

	if (snprintf(path, sizeof path, "%s/manifest.json", dir) >= (int)sizeof path)
		return tally_err_set(err, TALLY_EINVAL, false, "path too long: %s", dir);
	if (access(path, F_OK) != 0) {
		sbuf_printf(msg, "manifest.json: missing");
		return 1;
	}
	if (!(text = slurp(path, err)))
		return -1;
	m = cJSON_Parse(text);
	free(text);
	cJSON *period = cJSON_GetObjectItem(m, "period"),
	      *head = cJSON_GetObjectItem(m, "audit_chain_head");
	cJSON *files = cJSON_GetObjectItem(m, "files");
	const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItem(m, "format"));
	const char *from = cJSON_GetStringValue(cJSON_GetObjectItem(period, "from"));
	const char *to = cJSON_GetStringValue(cJSON_GetObjectItem(period, "to"));
	const char *gen = cJSON_GetStringValue(cJSON_GetObjectItem(m, "generated_at"));
	const char *hh = cJSON_GetStringValue(cJSON_GetObjectItem(head, "hash"));
	const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(m, "seal"));
	cJSON *hseq = cJSON_GetObjectItem(head, "chain_seq");
	int nf = cJSON_GetArraySize(files);
	if (!m || !fmt || strcmp(fmt, AUDIT_FORMAT) != 0 || !from || !to || !gen || !hh || !want ||
	    !cJSON_IsNumber(hseq) || !cJSON_IsArray(files) || nf <= 0 || nf > 64) {
		sbuf_printf(msg, "manifest.json: not a %s manifest (edited or damaged)",
		            AUDIT_FORMAT);
		goto out;
	}
	const char *names[64];
	struct file_sum sums[64];
	memset(sums, 0, sizeof sums);
	for (int i = 0; i < nf; i++) {
		cJSON *e = cJSON_GetArrayItem(files, i);
		const char *s[4] = {cJSON_GetStringValue(cJSON_GetObjectItem(e, "sha256")),
		                    cJSON_GetStringValue(cJSON_GetObjectItem(e, "chain_start")),
		                    cJSON_GetStringValue(cJSON_GetObjectItem(e, "chain_head")),
		                    cJSON_GetStringValue(cJSON_GetObjectItem(e, "name"))};
		cJSON *r = cJSON_GetObjectItem(e, "rows");
		if (!s[0] || !s[1] || !s[2] || !s[3] || !cJSON_IsNumber(r)) {
			sbuf_printf(msg, "manifest.json: file entry %d is malformed", i + 1);
			goto out;
		}
		names[i] = s[3];
		sums[i].rows = (int64_t)r->valuedouble;
		str_copy(sums[i].sha, 65, s[0]);
		str_copy(sums[i].start, 65, s[1]);
		str_copy(sums[i].head, 65, s[2]);
	}
	manifest_seal(from, to, gen, (long long)hseq->valuedouble, hh, names, sums, (size_t)nf,
	              seal);
	if (strcmp(seal, want) != 0) {
		sbuf_printf(msg, "manifest.json: the seal does not match its contents: the manifest"
		                 " was edited");
		goto out;
	}
	for (int i = 0; i < nf; i++) {
		int r = verify_file(dir, cJSON_GetArrayItem(files, i), msg, err);
		if (r != 0) {
			rc = r;
			goto out;
		}
	}
	/* A file the manifest does not list was added to the bundle. */
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		bool known = de->d_name[0] == '.' || strcmp(de->d_name, "manifest.json") == 0;
		for (int i = 0; i < nf && !known; i++)
			known = strcmp(names[i], de->d_name) == 0;
		if (!known) {
			sbuf_printf(msg, "%s: not listed in the manifest (added)", de->d_name);
			closedir(d);
			goto out;
		}
	}
	if (d)
		closedir(d);
	sbuf_printf(msg, "intact: %d files, period %s to %s, audit chain head %lld %s", nf, from,
	            to, (long long)hseq->valuedouble, hh);
	rc = 0;
out:
	cJSON_Delete(m);
	return rc;
}
