/* embedded_pg.c - a private PostgreSQL cluster for `tally up`: initdb once
 * under <data_dir>/pg, a postmaster listening only on a unix socket in
 * <data_dir>/run, its output in <data_dir>/pg.log.
 *
 * PostgreSQL refuses to run as root, so as root the server (and initdb) run
 * as the "postgres" system user; when that user cannot enter the data dir
 * (root's 0700 home), the cluster and its socket move to a directory of its
 * own (relocate_cluster).
 */
#include "embedded.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG_SERVER_USER      "postgres" /* who runs the server when we are root */
#define PG_PORT             "5432"     /* only names the socket file; no TCP */
#define PG_START_TIMEOUT_US 30000000
#define PG_STOP_TIMEOUT_US  60000000
#define PG_MAX_GROUPS       64

struct embedded_pg {
	char data_dir[PATH_MAX];     /* absolute */
	char pgdata[PATH_MAX + 8];   /* data_dir/pg */
	char sock_dir[PATH_MAX + 8]; /* data_dir/run */
	char log_path[PATH_MAX + 8]; /* data_dir/pg.log */
	char bin_dir[PATH_MAX];
	char conninfo[PATH_MAX * 3 + 64];
	pid_t pid; /* the postmaster, our child */
	/* When root: the identity the server runs under. */
	bool as_other;
	uid_t uid;
	gid_t gid;
	gid_t groups[PG_MAX_GROUPS];
	int n_groups;
};

/* ---- small file helpers ------------------------------------------------ */

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_executable(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return false;
	return access(path, X_OK) == 0;
}

/* Creates dir and its missing parents (mode 0755). */
static int make_dirs(const char *dir, struct tally_err *err)
{
	char tmp[PATH_MAX];

	if (str_copy(tmp, sizeof tmp, dir) < 0)
		return tally_err_set(err, TALLY_EINVAL, false, "path too long: %s", dir);
	for (char *s = tmp + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return tally_err_set(err, TALLY_EIO, false, "cannot create %s: %s", tmp,
			                     strerror(errno));
		*s = c;
		if (c == '\0')
			return 0;
	}
}

/* The last non-empty line of the log, for error messages. */
static void log_last_line(const char *path, char *out, size_t n)
{
	char buf[4096];
	FILE *fp = fopen(path, "r");
	size_t len = 0;

	out[0] = '\0';
	if (!fp)
		return;
	if (fseek(fp, 0, SEEK_END) == 0) {
		long size = ftell(fp);
		if (size > (long)sizeof buf - 1)
			fseek(fp, size - (long)sizeof buf + 1, SEEK_SET);
		else
			fseek(fp, 0, SEEK_SET);
		len = fread(buf, 1, sizeof buf - 1, fp);
	}
	fclose(fp);
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	char *line = strrchr(buf, '\n');
	str_copy(out, n, line ? line + 1 : buf);
	utf8_sanitize(out);
}

/* Fails with a message that names the log and quotes its last line. */
static int fail_with_log(const struct embedded_pg *pg, struct tally_err *err, const char *what)
{
	char last[160];

	log_last_line(pg->log_path, last, sizeof last);
	return tally_err_set(err, TALLY_EIO, false, "%s; see %s%s%s%s", what, pg->log_path,
	                     last[0] ? " (last line: \"" : "", last, last[0] ? "\")" : "");
}

/* ---- finding the server binaries ------------------------------------------ */

/* The major version in a cluster's PG_VERSION file, or 0. */
static int cluster_version(const char *pgdata)
{
	char path[PATH_MAX], line[32] = "";
	FILE *fp;

	if (snprintf(path, sizeof path, "%s/PG_VERSION", pgdata) >= (int)sizeof path)
		return 0;
	if (!(fp = fopen(path, "r")))
		return 0;
	if (!fgets(line, sizeof line, fp))
		line[0] = '\0';
	fclose(fp);
	return atoi(line);
}

/* /usr/lib/postgresql/<version>/bin: the cluster's own version when it is
 * installed (an existing cluster needs the major version that created it),
 * else the highest one; else a directory on PATH holding both programs. */
static int find_bin_dir(struct embedded_pg *pg, int want, struct tally_err *err)
{
	int best = 0;
	DIR *d = opendir("/usr/lib/postgresql");
	struct dirent *de;
	char dir[PATH_MAX];

	while (d && (de = readdir(d))) {
		int v = atoi(de->d_name);
		if (v <= 0)
			continue;
		snprintf(dir, sizeof dir, "/usr/lib/postgresql/%s/bin", de->d_name);
		if (!is_executable(dir, "postgres") || !is_executable(dir, "initdb"))
			continue;
		if (v == want) {
			best = v;
			break;
		}
		if (v > best)
			best = v;
	}
	if (d)
		closedir(d);
	if (best) {
		snprintf(pg->bin_dir, sizeof pg->bin_dir, "/usr/lib/postgresql/%d/bin", best);
		return 0;
	}
	const char *path = getenv("PATH");
	while (path && *path) {
		size_t n = strcspn(path, ":");
		if (n > 0 && n < sizeof dir) {
			memcpy(dir, path, n);
			dir[n] = '\0';
			if (is_executable(dir, "postgres") && is_executable(dir, "initdb"))
				return str_copy(pg->bin_dir, sizeof pg->bin_dir, dir);
		}
		path += n + (path[n] == ':');
	}
	return tally_err_set(err, TALLY_ENOTFOUND, false,
	                     "PostgreSQL server programs not found (no initdb and postgres in"
	                     " /usr/lib/postgresql/*/bin or on PATH): install postgresql or set"
	                     " TALLY_DATABASE_URL");
}

/* ---- running as the server user ------------------------------------------- */

/* As root, looks up the "postgres" system user that will run the server. */
static int choose_server_user(struct embedded_pg *pg, struct tally_err *err)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if (!(pw = getpwnam(PG_SERVER_USER)))
		return tally_err_set(err, TALLY_ENOTFOUND, false,
		                     "running as root, and PostgreSQL refuses root: no \"%s\""
		                     " system user to run it as (install postgresql, run tally as"
		                     " an ordinary user, or set TALLY_DATABASE_URL)",
		                     PG_SERVER_USER);
	pg->as_other = true;
	pg->uid = pw->pw_uid;
	pg->gid = pw->pw_gid;
	/* Looked up now: NSS is not safe to call between fork and exec. */
	pg->n_groups = PG_MAX_GROUPS;
	if (getgrouplist(pw->pw_name, pw->pw_gid, pg->groups, &pg->n_groups) < 0) {
		pg->groups[0] = pw->pw_gid;
		pg->n_groups = 1;
	}
	return 0;
}

/* In a forked child: become the server user. Only system calls here. */
static void child_become_server_user(const struct embedded_pg *pg)
{
	if (!pg->as_other)
		return;
	if (setgroups((size_t)pg->n_groups, pg->groups) < 0 || setgid(pg->gid) < 0 ||
	    setuid(pg->uid) < 0) {
		static const char msg[] = "tally: cannot switch to the postgres user\n";
		ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
		(void)w;
		_exit(126);
	}
}

/* nftw has no user pointer: the owner to give to, set just before the walk
 * (start-up is single-threaded). */
static uid_t chown_uid;
static gid_t chown_gid;

static int chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, chown_uid, chown_gid) < 0 ? -1 : 0;
}

/* Gives path (and, when recursive, everything under it) to the server user. */
static int give_to_server_user(const struct embedded_pg *pg, const char *path, bool recursive,
                               struct tally_err *err)
{
	struct stat st;

	if (!pg->as_other)
		return 0;
	if (stat(path, &st) == 0 && st.st_uid == pg->uid && !recursive)
		return 0;
	if (recursive) {
		chown_uid = pg->uid;
		chown_gid = pg->gid;
		if (nftw(path, chown_entry, 16, FTW_PHYS) == 0)
			return 0;
	} else if (chown(path, pg->uid, pg->gid) == 0) {
		return 0;
	}
	return tally_err_set(err, TALLY_EIO, false, "cannot give %s to the %s user: %s", path,
	                     PG_SERVER_USER, strerror(errno));
}

/* As root: 0 when the server user can enter dir and every directory above
 * it; otherwise -1 with *bad naming the first one it cannot enter (n bytes). */
static int server_user_reaches(const struct embedded_pg *pg, const char *dir, char *bad, size_t n,
                               struct tally_err *err)
{
	char dirs[64][PATH_MAX / 8];
	size_t count = 0;
	int status;
	pid_t pid;

	if (!pg->as_other)
		return 0;
	/* Every ancestor of dir, shortest first ("/a", "/a/b", ...). */
	for (const char *s = dir + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		size_t len = (size_t)(s - dir);
		if (count < sizeof dirs / sizeof dirs[0] && len < sizeof dirs[0]) {
			memcpy(dirs[count], dir, len);
			dirs[count++][len] = '\0';
		}
		if (!*s)
			break;
	}
	if ((pid = fork()) < 0)
		return tally_err_set(err, TALLY_EIO, false, "fork: %s", strerror(errno));
	if (pid == 0) {
		child_become_server_user(pg);
		for (size_t i = 0; i < count; i++)
			if (access(dirs[i], X_OK) < 0)
				_exit((int)i + 1);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 126)
		return tally_err_set(err, TALLY_EIO, false, "cannot run as the %s user to check %s",
		                     PG_SERVER_USER, dir);
	int first = WEXITSTATUS(status);
	if (first > 0 && (size_t)first <= count) {
		str_copy(bad, n, dirs[first - 1]);
		return -1;
	}
	return 0;
}

/* FNV-1a: names the relocated cluster after the data dir it belongs to. */
static uint64_t path_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* As root, when the server user cannot enter the data dir (a checkout in
 * root's 0700 home, the usual case in a container): the cluster and its
 * socket go to <home of postgres>/tally-<hash of the data dir> (else
 * /var/tmp/tally-pg-<hash>), a directory owned by the server user, mode
 * 0700, so that every data dir keeps a cluster of its own across runs.
 * <data_dir>/pg.location names it. A cluster already in <data_dir>/pg is
 * never left behind silently: that is an error naming the directory. */
static int relocate_cluster(struct embedded_pg *pg, const char *unreachable, struct tally_err *err)
{
	char base[PATH_MAX], bad[PATH_MAX], note[PATH_MAX + 16];
	struct passwd *pw = getpwnam(PG_SERVER_USER);
	const char *parents[2] = {pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL,
	                          "/var/tmp"};
	struct stat st;

	if (cluster_version(pg->pgdata) > 0)
		return tally_err_set(err, TALLY_EIO, false,
		                     "running as root, PostgreSQL runs as the %s user, which cannot"
		                     " enter %s (no search permission), and %s holds a cluster:"
		                     " chmod o+x %s or move the data dir somewhere it can reach",
		                     PG_SERVER_USER, unreachable, pg->pgdata, unreachable);
	for (size_t i = 0; i < 2; i++) {
		if (!parents[i] || stat(parents[i], &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (snprintf(base, sizeof base, "%s/tally-%s%016llx", parents[i], i ? "pg-" : "",
		             (unsigned long long)path_hash(pg->data_dir)) >= (int)sizeof base)
			continue;
		if (mkdir(base, 0700) < 0 && errno != EEXIST)
			continue;
		/* In /var/tmp anyone may have made it first: only ours or the server's. */
		if (lstat(base, &st) < 0 || !S_ISDIR(st.st_mode) ||
		    (st.st_uid != 0 && st.st_uid != pg->uid))
			continue;
		if (chown(base, pg->uid, pg->gid) < 0 || chmod(base, 0700) < 0)
			continue;
		if (server_user_reaches(pg, base, bad, sizeof bad, err) < 0)
			continue;
		snprintf(pg->pgdata, sizeof pg->pgdata, "%s/pg", base);
		snprintf(pg->sock_dir, sizeof pg->sock_dir, "%s/run", base);
		if (mkdir(pg->sock_dir, 0700) < 0 && errno != EEXIST)
			return tally_err_set(err, TALLY_EIO, false, "cannot create %s: %s",
			                     pg->sock_dir, strerror(errno));
		snprintf(note, sizeof note, "%s/pg.location", pg->data_dir);
		FILE *fp = fopen(note, "w");
		if (fp) {
			fprintf(fp, "%s\n", base);
			fclose(fp);
		}
		log_info("embedded PostgreSQL: the %s user cannot enter %s, so the cluster lives in"
		         " %s (owned by %s, mode 0700; named in %s)",
		         PG_SERVER_USER, unreachable, base, PG_SERVER_USER, note);
		return 0;
	}
	return tally_err_set(err, TALLY_EIO, false,
	                     "running as root, PostgreSQL runs as the %s user, which cannot"
	                     " enter %s (no search permission), and no directory it can reach"
	                     " could be made for the cluster: chmod o+x %s or choose a"
	                     " TALLY_DATA_DIR it can reach",
	                     PG_SERVER_USER, unreachable, unreachable);
}

/* As root: makes sure the server user can reach the cluster and its socket,
 * moving both out of an unreachable data dir (see relocate_cluster). */
static int check_reachable(struct embedded_pg *pg, struct tally_err *err)
{
	char bad[PATH_MAX];

	if (!pg->as_other)
		return 0;
	bad[0] = '\0';
	if (server_user_reaches(pg, pg->data_dir, bad, sizeof bad, err) == 0)
		return 0;
	if (!bad[0])
		return -1; /* could not check: err says why */
	return relocate_cluster(pg, bad, err);
}

/* Forks and execs argv (a server program) as the server user with stdout
 * and stderr appended to the log. The child leaves our session, so that a
 * terminal's Ctrl-C reaches only tally (which then stops the server in
 * order), and gets SIGINT (fast shutdown) should this thread die. */
static pid_t spawn(const struct embedded_pg *pg, char *const argv[], struct tally_err *err)
{
	pid_t parent = getpid();
	int fd = open(pg->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	pid_t pid;

	if (fd < 0) {
		tally_err_set(err, TALLY_EIO, false, "cannot open %s: %s", pg->log_path,
		              strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		tally_err_set(err, TALLY_EIO, false, "fork: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		setsid();
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		child_become_server_user(pg);
		/* Set after the identity change, which would clear it. */
		prctl(PR_SET_PDEATHSIG, SIGINT);
		if (getppid() != parent)
			_exit(1);
		if (chdir(pg->data_dir) < 0 && chdir("/") < 0)
			_exit(1);
		execv(argv[0], argv);
		static const char msg[] = "tally: cannot run the PostgreSQL program ";
		ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
		w = write(STDERR_FILENO, argv[0], strlen(argv[0]));
		(void)w;
		_exit(127);
	}
	close(fd);
	return pid;
}

/* ---- initdb ---------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

/* Creates the cluster in pgdata.partial and renames it into place, so that
 * an interrupted initdb never leaves a half-made cluster behind. */
static int run_initdb(struct embedded_pg *pg, struct tally_err *err)
{
	char partial[PATH_MAX + 16], initdb[PATH_MAX + 16];
	int status;
	pid_t pid;

	snprintf(partial, sizeof partial, "%s.partial", pg->pgdata);
	snprintf(initdb, sizeof initdb, "%s/initdb", pg->bin_dir);
	if (access(partial, F_OK) == 0 && nftw(partial, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return tally_err_set(err, TALLY_EIO, false,
		                     "cannot remove the unfinished cluster %s: %s", partial,
		                     strerror(errno));
	if (mkdir(partial, 0700) < 0)
		return tally_err_set(err, TALLY_EIO, false, "cannot create %s: %s", partial,
		                     strerror(errno));
	if (give_to_server_user(pg, partial, false, err) < 0)
		return -1;
	log_info("embedded PostgreSQL: creating a cluster in %s (once)", pg->pgdata);
	/* The whole tree is synced once below: much faster than initdb's own. */
	char *argv[] = {initdb, "-D",          partial,        "-U",        "tally", "-E",
	                "UTF8", "--no-locale", "--auth=trust", "--no-sync", NULL};
	if ((pid = spawn(pg, argv, err)) < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail_with_log(pg, err, "initdb failed");
	int fd = open(partial, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	if (rename(partial, pg->pgdata) < 0)
		return tally_err_set(err, TALLY_EIO, false, "cannot rename %s to %s: %s", partial,
		                     pg->pgdata, strerror(errno));
	return 0;
}

/* ---- connection string ------------------------------------------------------ */

/* postgresql:///tally?host=<socket dir, percent-encoded>&port=5432&user=tally.
 * The port is spelled out so that a PGPORT in the environment does not
 * point clients at another socket name. */
static void build_conninfo(struct embedded_pg *pg)
{
	static const char hex[] = "0123456789ABCDEF";
	struct sbuf b;

	sbuf_init(&b);
	sbuf_puts(&b, "postgresql:///tally?host=");
	for (const unsigned char *s = (const unsigned char *)pg->sock_dir; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("/-._~", *s)) {
			sbuf_putc(&b, (char)*s);
		} else {
			sbuf_putc(&b, '%');
			sbuf_putc(&b, hex[*s >> 4]);
			sbuf_putc(&b, hex[*s & 15]);
		}
	}
	sbuf_puts(&b, "&port=" PG_PORT "&user=tally");
	str_copy(pg->conninfo, sizeof pg->conninfo, b.oom ? "" : b.p);
	sbuf_cleanup(&b);
}

/* A libpq keyword/value connection to database dbname, for the checks. */
static PGconn *connect_db(const struct embedded_pg *pg, const char *dbname)
{
	const char *keys[] = {"host", "port", "user", "dbname", NULL};
	const char *vals[] = {pg->sock_dir, PG_PORT, "tally", dbname, NULL};

	return PQconnectdbParams(keys, vals, 0);
}

/* Waits until the server accepts connections; fails early when it exits. */
static int wait_ready(struct embedded_pg *pg, struct tally_err *err)
{
	const char *keys[] = {"host", "port", "user", "dbname", "connect_timeout", NULL};
	const char *vals[] = {pg->sock_dir, PG_PORT, "tally", "postgres", "2", NULL};
	int64_t deadline = time_mono_us() + PG_START_TIMEOUT_US;
	int status;

	for (;;) {
		if (PQpingParams(keys, vals, 0) == PQPING_OK)
			return 0;
		if (waitpid(pg->pid, &status, WNOHANG) == pg->pid) {
			pg->pid = 0;
			return fail_with_log(pg, err, "PostgreSQL exited during start-up");
		}
		if (time_mono_us() > deadline)
			return fail_with_log(pg, err, "PostgreSQL did not answer within 30 s");
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* Creates database "tally" unless it exists. */
static int create_database(struct embedded_pg *pg, struct tally_err *err)
{
	PGconn *conn = connect_db(pg, "postgres");
	PGresult *res = NULL;
	int rc = -1;

	if (PQstatus(conn) != CONNECTION_OK) {
		tally_err_set(err, TALLY_EDB, true, "cannot connect to the embedded PostgreSQL: %s",
		              PQerrorMessage(conn));
		goto out;
	}
	res = PQexec(conn, "SELECT 1 FROM pg_database WHERE datname = 'tally'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		tally_err_set(err, TALLY_EDB, false, "cannot list databases: %s",
		              PQerrorMessage(conn));
		goto out;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		res = PQexec(conn, "CREATE DATABASE tally");
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			tally_err_set(err, TALLY_EDB, false, "cannot create database tally: %s",
			              PQerrorMessage(conn));
			goto out;
		}
	}
	rc = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* The pid a PostgreSQL lock file (postmaster.pid, the socket's .lock) names
 * when that process is alive and is a postgres; 0 otherwise. A lock naming a
 * dead pid, or a pid reused by some other program after a crash or a
 * container restart, is stale: it is removed, since the server would refuse
 * to start over a live but unrelated pid. */
static pid_t lock_owner(const char *path)
{
	char proc[64], stat_line[128] = "";
	FILE *fp;
	long pid = 0;

	if (!(fp = fopen(path, "r")))
		return 0;
	if (fscanf(fp, "%ld", &pid) != 1)
		pid = 0;
	fclose(fp);
	if (pid > 0 && pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
		snprintf(proc, sizeof proc, "/proc/%ld/stat", pid);
		if (!(fp = fopen(proc, "r")))
			return (pid_t)pid; /* no /proc: assume it is what it claims */
		if (!fgets(stat_line, sizeof stat_line, fp))
			stat_line[0] = '\0';
		fclose(fp);
		/* "pid (comm) state ...": a live postgres, not a zombie. */
		const char *name = strchr(stat_line, '(');
		const char *state = strrchr(stat_line, ')');
		if (name && state && strncmp(name, "(postgres)", 10) == 0 && state[1] == ' ' &&
		    state[2] != 'Z' && state[2] != 'X')
			return (pid_t)pid;
	}
	unlink(path);
	return 0;
}

/* Waits up to 10 s for a postmaster left by a previous run (it gets a fast
 * shutdown when its tally dies) to go away; its pid if it does not. */
static pid_t previous_postmaster(const struct embedded_pg *pg)
{
	char pidfile[PATH_MAX + 32], socklock[PATH_MAX + 32];
	pid_t pid;

	snprintf(pidfile, sizeof pidfile, "%s/postmaster.pid", pg->pgdata);
	snprintf(socklock, sizeof socklock, "%s/.s.PGSQL.%s.lock", pg->sock_dir, PG_PORT);
	for (int i = 0; i < 100; i++) {
		if (!(pid = lock_owner(pidfile)) && !(pid = lock_owner(socklock)))
			return 0;
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return pid;
}

/* ---- the public interface ----------------------------------------------------- */

/* Sets up the directories and paths; the data dir becomes absolute. */
static int prepare_paths(struct embedded_pg *pg, const char *data_dir, struct tally_err *err)
{
	char abs[PATH_MAX];
	struct sockaddr_un sun;

	if (make_dirs(data_dir, err) < 0)
		return -1;
	if (!realpath(data_dir, abs))
		return tally_err_set(err, TALLY_EIO, false, "cannot resolve %s: %s", data_dir,
		                     strerror(errno));
	if (strlen(abs) + 16 >= sizeof pg->data_dir)
		return tally_err_set(err, TALLY_EINVAL, false, "data dir path too long: %s", abs);
	str_copy(pg->data_dir, sizeof pg->data_dir, abs);
	snprintf(pg->pgdata, sizeof pg->pgdata, "%s/pg", pg->data_dir);
	snprintf(pg->sock_dir, sizeof pg->sock_dir, "%s/run", pg->data_dir);
	snprintf(pg->log_path, sizeof pg->log_path, "%s/pg.log", pg->data_dir);
	if (strlen(pg->sock_dir) + sizeof "/.s.PGSQL." PG_PORT > sizeof sun.sun_path)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "the socket path %s/.s.PGSQL.%s is longer than unix sockets"
		                     " allow (%zu bytes): choose a shorter TALLY_DATA_DIR",
		                     pg->sock_dir, PG_PORT, sizeof sun.sun_path - 1);
	if (mkdir(pg->sock_dir, 0700) < 0 && errno != EEXIST)
		return tally_err_set(err, TALLY_EIO, false, "cannot create %s: %s", pg->sock_dir,
		                     strerror(errno));
	build_conninfo(pg);
	return 0;
}

/* Starts (initdb-ing the first time) the embedded cluster; see embedded.h.
 * The caller owns the result and stops it with embedded_pg_stop. Call from
 * the thread that will outlive the server: should it die, the server gets a
 * fast shutdown. */
struct embedded_pg *embedded_pg_start(const char *data_dir, struct tally_err *err)
{
	struct embedded_pg *pg = calloc(1, sizeof *pg);
	char postgres[PATH_MAX + 16];
	struct stat st;
	pid_t other;

	if (!pg) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	if (prepare_paths(pg, data_dir, err) < 0 || choose_server_user(pg, err) < 0 ||
	    check_reachable(pg, err) < 0 || find_bin_dir(pg, cluster_version(pg->pgdata), err) < 0)
		goto fail;
	build_conninfo(pg); /* again: check_reachable may have moved the socket */
	if (!is_file(pg->log_path)) {
		int fd = open(pg->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd >= 0)
			close(fd);
	}
	if (give_to_server_user(pg, pg->sock_dir, false, err) < 0)
		goto fail;
	chmod(pg->sock_dir, 0700); /* the directory is the gate: trust auth inside */
	if (stat(pg->pgdata, &st) < 0) {
		if (run_initdb(pg, err) < 0)
			goto fail;
	} else if (pg->as_other && st.st_uid != pg->uid) {
		/* A cluster made by an earlier non-root run: the server needs to own it. */
		if (give_to_server_user(pg, pg->pgdata, true, err) < 0)
			goto fail;
	}
	int have = cluster_version(pg->pgdata);
	if (have == 0) {
		tally_err_set(err, TALLY_EIO, false,
		              "%s exists but holds no PostgreSQL cluster (no PG_VERSION): move it"
		              " away and start again",
		              pg->pgdata);
		goto fail;
	}
	if (strstr(pg->bin_dir, "/usr/lib/postgresql/") == pg->bin_dir &&
	    atoi(pg->bin_dir + strlen("/usr/lib/postgresql/")) != have) {
		tally_err_set(err, TALLY_EIO, false,
		              "the cluster in %s was made by PostgreSQL %d, but only %s is"
		              " installed: install PostgreSQL %d or pg_upgrade the cluster",
		              pg->pgdata, have, pg->bin_dir, have);
		goto fail;
	}
	if ((other = previous_postmaster(pg)) > 0) {
		tally_err_set(err, TALLY_EIO, false,
		              "a PostgreSQL server (pid %ld) is already running on %s: is another"
		              " `tally up` using TALLY_DATA_DIR=%s? stop it first",
		              (long)other, pg->pgdata, pg->data_dir);
		goto fail;
	}
	snprintf(postgres, sizeof postgres, "%s/postgres", pg->bin_dir);
	char sock_opt[PATH_MAX + 32];
	snprintf(sock_opt, sizeof sock_opt, "unix_socket_directories=%s", pg->sock_dir);
	/* (tally's own sessions turn JIT off: ledger/ledger.c) */
	char *argv[] = {postgres,
	                "-D",
	                pg->pgdata,
	                "-c",
	                "listen_addresses=",
	                "-c",
	                sock_opt,
	                "-c",
	                "port=" PG_PORT,
	                "-c",
	                "unix_socket_permissions=0700",
	                "-c",
	                "logging_collector=off",
	                NULL};
	if ((pg->pid = spawn(pg, argv, err)) < 0) {
		pg->pid = 0;
		goto fail;
	}
	if (wait_ready(pg, err) < 0 || create_database(pg, err) < 0)
		goto fail;
	log_info("embedded PostgreSQL %d on %s (log: %s)", have, pg->sock_dir, pg->log_path);
	return pg;
fail:
	embedded_pg_stop(pg);
	return NULL;
}

/* The URI clients use; owned by pg. */
const char *embedded_pg_conninfo(const struct embedded_pg *pg)
{
	return pg->conninfo;
}

/* Fast shutdown (SIGINT), waiting for the postmaster to exit; after a
 * minute, an immediate shutdown. Frees pg; NULL is fine. */
void embedded_pg_stop(struct embedded_pg *pg)
{
	int status;

	if (!pg)
		return;
	if (pg->pid > 0 && kill(pg->pid, SIGINT) == 0) {
		int64_t deadline = time_mono_us() + PG_STOP_TIMEOUT_US;
		bool quit_sent = false;
		for (;;) {
			pid_t r = waitpid(pg->pid, &status, WNOHANG);
			if (r == pg->pid || (r < 0 && errno != EINTR))
				break;
			if (!quit_sent && time_mono_us() > deadline) {
				log_warn("embedded PostgreSQL: no fast shutdown within 60 s;"
				         " stopping it immediately");
				kill(pg->pid, SIGQUIT);
				quit_sent = true;
			}
			struct timespec ts = {0, 50 * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	free(pg);
}
