/* SPDX-License-Identifier: MIT */
/*
 * test_install.c - ringo installed, and programs built against it, as
 * README.md tells a newcomer to do.
 *
 * The group's set-up runs `make install PREFIX=<tmp>/prefix SKIP_DEPS=1`
 * in the source tree for this binary's build directory (build/tests/..:
 * make tests has built the library, so nothing is compiled), and sets
 * PKG_CONFIG_PATH=<tmp>/prefix/lib/pkgconfig.  Each program is built in a
 * directory of its own as hello.c, with one of the README's command lines
 * run by sh, plus -Wall -Wextra -Werror: a warning (an example that needs
 * the Makefile's -D_GNU_SOURCE, say) fails the test, and so does anything
 * the compiler or the linker prints.
 *
 *  - The installed files: ringo.h as in the tree, libringo.a,
 *    libringo.so.0 executable with the libringo.so link to it, ringo.pc
 *    naming the prefix and the version of ringo.h.
 *  - hello, the README's first ```c block, built with the README's first
 *    line (no rpath) and run with LD_LIBRARY_PATH, as the README says for
 *    a prefix other than /usr/local: ten greetings.
 *  - Every .c file of examples/, built with the README's rpath line and
 *    run without LD_LIBRARY_PATH: primes counts to the end, echo_server
 *    echoes a line and dies of SIGTERM, http_hello answers a GET and
 *    kv_server PING, SET and GET, and both exit 0 on SIGTERM.  An example
 *    without a case in examples[] fails the test: a new example gets one.
 *  - hello linked by the README's static line: readelf -d lists libc.so.6
 *    and no libringo, liburing or libnuma, and it runs.
 *  - make install DESTDIR=<tmp>/stage stages the files under usr/local,
 *    ringo.pc naming /usr/local; make uninstall, with the DESTDIR or the
 *    PREFIX, removes every file it installed.
 *
 * The command lines below are copies of the README's: each must appear in
 * README.md verbatim, so that the README cannot drift from what is tested.
 * Nothing is written outside the temporary directory but the build
 * directory's ringo.pc, which make regenerates for each PREFIX; the last
 * install, to a DESTDIR with the default PREFIX, leaves it as a plain make
 * makes it.
 *
 * Skipped (77) in sanitizer builds, whose library needs the sanitizer's
 * flags in every program that links it, and when cc, make, pkg-config or
 * readelf is missing.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "tests/helpers.h"

/* README.md's command lines, verbatim. */
#define README_SHARED_LINE "cc -O2 hello.c $(pkg-config --cflags --libs ringo) -o hello"
#define README_RPATH_LINE                                     \
	"cc -O2 hello.c $(pkg-config --cflags --libs ringo) " \
	"-Wl,-rpath,$(pkg-config --variable=libdir ringo) -o hello"
/* An example that needs OpenSSL adds its pkg-config name. */
#define README_RPATH_OPENSSL_LINE                                     \
	"cc -O2 hello.c $(pkg-config --cflags --libs ringo openssl) " \
	"-Wl,-rpath,$(pkg-config --variable=libdir ringo) -o hello"
#define README_STATIC_LINE                                                                \
	"cc -O2 hello.c $(pkg-config --cflags ringo) -Wl,-Bstatic $(pkg-config --static " \
	"--libs ringo) -Wl,-Bdynamic -o hello"
#define README_LD_LIBRARY_PATH "LD_LIBRARY_PATH=$HOME/.local/lib ./hello"

/* What every line gets added, so that a warning fails the build. */
#define WARNING_FLAGS " -Wall -Wextra -Werror"

/* Seconds for make, for one compilation, for a program's run. */
#define MAKE_TIMEOUT_S	  100
#define COMPILE_TIMEOUT_S 60
#define RUN_TIMEOUT_S	  10
/* Seconds a client waits for a server. */
#define IO_TIMEOUT_S 10

/* The compiler of a library that make finds out of date (an edited
 * source): the one that built this test. */
#ifdef __clang__
#define MAKE_CC "CC=clang"
#else
#define MAKE_CC "CC=gcc"
#endif

static char src_dir[PATH_MAX];	 /* the source tree (Makefile, README.md) */
static char build_dir[PATH_MAX]; /* BUILD for make, relative to src_dir when inside it */
static char tmp_dir[PATH_MAX];
static char prefix[PATH_MAX + 16];
static char *readme; /* README.md's text */
static char out[1 << 16];
static pid_t server_pid; /* a server running: the teardown kills it after a failure */

/* snprintf that fails the test rather than cut a path short. */
static void __attribute__((format(printf, 3, 4)))
str_fmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		fail_msg("a path or command of more than %zu bytes: %s...", cap - 1, buf);
}

/* ------------------------------------------------------------------ */
/* Files and commands                                                  */
/* ------------------------------------------------------------------ */

/* Read the whole of path (at most 4 MiB) into a NUL-terminated string,
 * or NULL. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len <= (4 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)) != NULL) {
		if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		} else {
			buf[len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	if (fwrite(text, 1, len, f) != len || fclose(f) != 0)
		fail_msg("%s: cannot write it", path);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* make GOAL VAR in the source tree, for this test's build directory. */
static int run_make(const char *goal, const char *var)
{
	char build_var[PATH_MAX + 8];
	char *argv[] = { "make",       "-C",	  src_dir, "--no-print-directory",
			 (char *)goal, build_var, MAKE_CC, "SKIP_DEPS=1",
			 (char *)var,  NULL };
	int rc;

	str_fmt(build_var, sizeof(build_var), "BUILD=%s", build_dir);
	rc = tool_run(argv, -1, out, sizeof(out), MAKE_TIMEOUT_S);
	if (rc != 0)
		print_error("make %s %s: status %d:\n%s\n", goal, var, rc, out);
	return rc;
}

/* Fail unless README.md holds text verbatim. */
static void assert_in_readme(const char *text)
{
	if (!strstr(readme, text))
		fail_msg("README.md no longer holds \"%s\": bring tests/test_install.c "
			 "and the README together again",
			 text);
}

/* A fresh directory <tmp>/NAME holding SRC (a file, or NULL) as hello.c,
 * into dir[cap]. */
static void program_dir(char *dir, size_t cap, const char *name, const char *src)
{
	char path[PATH_MAX];
	char *text;

	str_fmt(dir, cap, "%s/%s", tmp_dir, name);
	if (mkdir(dir, 0755) < 0)
		fail_msg("mkdir %s: %s", dir, strerror(errno));
	if (!src)
		return;
	text = read_file(src);
	if (!text)
		fail_msg("%s: cannot read it", src);
	str_fmt(path, sizeof(path), "%s/hello.c", dir);
	write_file(path, text, strlen(text));
	free(text);
}

/* Build dir/hello.c with one of the README's lines, which must work
 * silently. */
static void build_with(const char *dir, const char *line)
{
	char cmd[PATH_MAX + 512];
	char *argv[] = { "sh", "-c", cmd, NULL };
	int rc;

	assert_in_readme(line);
	str_fmt(cmd, sizeof(cmd), "cd '%s' && %s%s", dir, line, WARNING_FLAGS);
	rc = tool_run(argv, -1, out, sizeof(out), COMPILE_TIMEOUT_S);
	if (rc != 0 || out[0])
		fail_msg("%s: status %d, and it printed:\n%s", cmd, rc, out);
}

/* Run argv to its end: it must exit 0.  Its output is left in out. */
static void run_ok(char *const argv[])
{
	int rc = tool_run(argv, -1, out, sizeof(out), RUN_TIMEOUT_S);

	if (rc != 0)
		fail_msg("%s: status %d, and it printed:\n%s", argv[0], rc, out);
}

/* ------------------------------------------------------------------ */
/* Clients                                                             */
/* ------------------------------------------------------------------ */

static int dial(int port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		fail_msg("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail_msg("connect to port %d: %s", port, strerror(errno));
	return fd;
}

/* Receive into buf[cap] (NUL-terminated) until the peer closes, or until
 * the received bytes end with @until when that is not NULL. */
static size_t recv_all(int fd, char *buf, size_t cap, const char *until)
{
	size_t len = 0, ulen = until ? strlen(until) : 0;

	while (len + 1 < cap) {
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail_msg("recv: %s (after %zu bytes)", strerror(errno), len);
		if (n == 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (until && len >= ulen && memcmp(buf + len - ulen, until, ulen) == 0)
			break;
	}
	buf[len] = '\0';
	return len;
}

/* ------------------------------------------------------------------ */
/* The examples                                                        */
/* ------------------------------------------------------------------ */

static void run_primes(const char *path)
{
	char *argv[] = { (char *)path, "100000", NULL };

	run_ok(argv);
	assert_has(out, "9592 primes below 100000 (");
}

/* A free TCP port on the loopback (for a server that cannot take port 0
 * and say which it got), or -1. */
static int free_port(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
		port = ntohs(addr.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Start echo_server on port as server_pid: true once it says it listens,
 * false if it ended first (someone took the port meanwhile); it fails the
 * test if it says nothing in time. */
static bool echo_start(const char *path, int port)
{
	char arg[16], line[256];
	char *argv[] = { (char *)path, arg, NULL };
	pid_t parent = getpid();
	int pipefd[2];
	size_t len = 0;
	int64_t deadline = now_ns() + (int64_t)RUN_TIMEOUT_S * 1000000000;
	bool eof = false;

	if (port <= 0)
		fail_msg("no free port on the loopback");
	str_fmt(arg, sizeof(arg), "%d", port);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		fail_msg("pipe2: %s", strerror(errno));
	server_pid = fork();
	if (server_pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (server_pid == 0) {
		dup2(pipefd[1], 1);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		execv(path, argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (!memchr(line, '\n', len) && len + 1 < sizeof(line)) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		int64_t left_ms = (deadline - now_ns()) / 1000000;
		ssize_t n;

		if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) <= 0)
			break;
		n = read(pipefd[0], line + len, sizeof(line) - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		eof = n <= 0;
		if (eof)
			break;
		len += (size_t)n;
	}
	close(pipefd[0]);
	line[len] = '\0';
	if (strstr(line, "listening on port"))
		return true;
	if (!eof)
		kill(server_pid, SIGKILL);
	waitpid(server_pid, NULL, 0);
	server_pid = 0;
	if (eof)
		return false;
	fail_msg("%s %d said \"%s\" within %d s, not that it listens", path, port, line,
		 RUN_TIMEOUT_S);
	return false;
}

static void run_echo_server(const char *path)
{
	char buf[64];
	int status, fd, port, tries = 0;

	while (!echo_start(path, port = free_port()))
		if (++tries == 5)
			fail_msg("%s: ended before listening, 5 times", path);
	fd = dial(port);
	send_str(fd, "hello\n");
	recv_all(fd, buf, sizeof(buf), "\n");
	close(fd);
	assert_string_equal(buf, "hello\n");

	/* No handler: SIGTERM ends it. */
	kill(server_pid, SIGTERM);
	while (waitpid(server_pid, &status, 0) < 0 && errno == EINTR)
		;
	server_pid = 0;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGTERM)
		fail_msg("%s: raw status 0x%x after SIGTERM, not killed by it", path, status);
}

/* Start a server that takes port 0 and names its port (helpers.h). */
static void server_start(struct example *ex, const char *path)
{
	if (example_start(ex, path, NULL) < 0)
		fail_msg("%s did not start", path);
	server_pid = ex->pid;
}

/* SIGTERM: it must exit 0. */
static void server_stop(struct example *ex, const char *path)
{
	int rc = example_stop(ex, RUN_TIMEOUT_S, NULL, 0);

	server_pid = 0;
	if (rc < 0)
		fail_msg("%s did not exit 0 on SIGTERM", path);
}

static void run_http_hello(const char *path)
{
	struct example ex;
	char buf[4096];
	int fd;

	server_start(&ex, path);
	fd = dial(ex.port);
	send_str(fd, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
	recv_all(fd, buf, sizeof(buf), NULL);
	close(fd);
	if (strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) != 0)
		fail_msg("http_hello answered:\n%s", buf);
	assert_has(buf, "\r\n\r\nHello, World!");
	server_stop(&ex, path);
}

static void run_kv_server(const char *path)
{
	struct example ex;
	char buf[256];
	int fd;

	server_start(&ex, path);
	fd = dial(ex.port);
	send_str(fd, "PING\r\nSET greeting hello\r\nGET greeting\r\nQUIT\r\n");
	recv_all(fd, buf, sizeof(buf), NULL);
	close(fd);
	assert_string_equal(buf, "+PONG\r\n+OK\r\n$5\r\nhello\r\n+OK\r\n");
	server_stop(&ex, path);
}

/* tls_echo, in its directory with a certificate made there: a handshake
 * with openssl s_client. */
static void run_tls_echo(const char *path)
{
	char dir[PATH_MAX], old[PATH_MAX], port[32];
	char *req[] = { "openssl",
			"req",
			"-x509",
			"-newkey",
			"ec",
			"-pkeyopt",
			"ec_paramgen_curve:prime256v1",
			"-nodes",
			"-keyout",
			"key.pem",
			"-out",
			"cert.pem",
			"-days",
			"2",
			"-subj",
			"/CN=localhost",
			NULL };
	char *client[] = { "openssl", "s_client", "-connect", port, "-brief", NULL };
	struct example ex;

	str_fmt(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	if (!getcwd(old, sizeof(old)) || chdir(dir) < 0)
		fail_msg("chdir %s: %s", dir, strerror(errno));
	run_ok(req);
	server_start(&ex, path);
	str_fmt(port, sizeof(port), "127.0.0.1:%d", ex.port);
	run_ok(client);
	assert_has(out, "CONNECTION ESTABLISHED");
	server_stop(&ex, path);
	if (chdir(old) < 0)
		fail_msg("chdir %s: %s", old, strerror(errno));
}

/* How to run each example briefly, by name, and the README's line that
 * builds it (NULL: the plain rpath line). */
static const struct {
	const char *name;
	void (*run)(const char *path);
	const char *line;
} examples[] = {
	{ "echo_server", run_echo_server, NULL },
	{ "http_hello", run_http_hello, NULL },
	{ "kv_server", run_kv_server, NULL },
	{ "primes", run_primes, NULL },
	{ "tls_echo", run_tls_echo, README_RPATH_OPENSSL_LINE },
};

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/* Fail unless path is a regular file (not a link) with mode `mode`. */
static void assert_file(const char *dir, const char *name, mode_t mode)
{
	char path[PATH_MAX * 2];
	struct stat st;

	str_fmt(path, sizeof(path), "%s/%s", dir, name);
	if (lstat(path, &st) < 0)
		fail_msg("%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) != mode)
		fail_msg("%s: mode 0%o, not a regular file of mode 0%o", path, (unsigned)st.st_mode,
			 (unsigned)mode);
}

static void assert_installed(const char *root)
{
	char path[PATH_MAX * 2], target[64];
	char *installed, *ours;
	ssize_t n;

	assert_file(root, "include/ringo.h", 0644);
	assert_file(root, "lib/libringo.a", 0644);
	assert_file(root, "lib/libringo.so.0", 0755);
	assert_file(root, "lib/pkgconfig/ringo.pc", 0644);
	str_fmt(path, sizeof(path), "%s/lib/libringo.so", root);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		fail_msg("%s: not a link: %s", path, strerror(errno));
	target[n] = '\0';
	assert_string_equal(target, "libringo.so.0");

	str_fmt(path, sizeof(path), "%s/include/ringo.h", root);
	installed = read_file(path);
	str_fmt(path, sizeof(path), "%s/include/ringo.h", src_dir);
	ours = read_file(path);
	assert_non_null(installed);
	assert_non_null(ours);
	if (strcmp(installed, ours) != 0)
		fail_msg("%s/include/ringo.h differs from the tree's", root);
	free(installed);
	free(ours);
}

/* Fail unless none of the files make install puts under root is there. */
static void assert_uninstalled(const char *root)
{
	static const char *const files[] = {
		"include/ringo.h", "lib/libringo.a",	     "lib/libringo.so.0",
		"lib/libringo.so", "lib/pkgconfig/ringo.pc", "share/ringo/ringo-gdb.py",
	};
	char path[PATH_MAX * 2];
	struct stat st;

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		str_fmt(path, sizeof(path), "%s/%s", root, files[i]);
		if (lstat(path, &st) == 0)
			fail_msg("%s is still there after make uninstall", path);
	}
}

static void test_installed_files(void **state)
{
	char pc_path[PATH_MAX * 2], want[PATH_MAX * 2];
	char *pc;

	(void)state;
	assert_installed(prefix);

	str_fmt(pc_path, sizeof(pc_path), "%s/lib/pkgconfig/ringo.pc", prefix);
	pc = read_file(pc_path);
	assert_non_null(pc);
	str_fmt(want, sizeof(want), "prefix=%s\n", prefix);
	assert_has(pc, want);
	free(pc);

	/* The gdb script, which the library also carries. */
	str_fmt(pc_path, sizeof(pc_path), "%s/share/ringo/ringo-gdb.py", prefix);
	pc = read_file(pc_path);
	assert_non_null(pc);
	assert_has(pc, "class InfoGoroutines");
	free(pc);

	{
		char *argv[] = { "pkg-config", "--modversion", "ringo", NULL };

		run_ok(argv);
		str_fmt(want, sizeof(want), "%d.%d.%d\n", RINGO_VERSION_MAJOR, RINGO_VERSION_MINOR,
			RINGO_VERSION_PATCH);
		assert_string_equal(out, want);
	}
	{
		char *argv[] = { "pkg-config", "--variable=libdir", "ringo", NULL };

		run_ok(argv);
		str_fmt(want, sizeof(want), "%s/lib\n", prefix);
		assert_string_equal(out, want);
	}
	{
		/* What a static link needs besides libringo.a. */
		char *argv[] = { "pkg-config", "--static", "--libs", "ringo", NULL };

		run_ok(argv);
		assert_has(out, "-lringo");
		assert_has(out, "-luring");
		assert_has(out, "-lnuma");
	}
}

/* The README's first C block. */
static void write_readme_hello(const char *dir)
{
	const char *start = strstr(readme, "```c\n"), *end;
	char path[PATH_MAX * 2];

	if (!start)
		fail_msg("README.md has no ```c block");
	start += 5;
	end = strstr(start, "\n```");
	if (!end)
		fail_msg("README.md's ```c block does not end");
	str_fmt(path, sizeof(path), "%s/hello.c", dir);
	write_file(path, start, (size_t)(end - start) + 1);
}

/* Ten greetings, one per goroutine. */
static void assert_greetings(void)
{
	int lines = 0;

	for (const char *p = out; (p = strstr(p, "hello from goroutine ")) != NULL; p++)
		lines++;
	if (lines != 10)
		fail_msg("hello greeted %d times, not 10:\n%s", lines, out);
}

static void test_hello_shared(void **state)
{
	char dir[PATH_MAX], exe[PATH_MAX * 2], ld_path[PATH_MAX * 2];
	char *argv[] = { "env", ld_path, exe, NULL };

	(void)state;
	program_dir(dir, sizeof(dir), "hello", NULL);
	write_readme_hello(dir);
	build_with(dir, README_SHARED_LINE);
	assert_in_readme(README_LD_LIBRARY_PATH);
	str_fmt(exe, sizeof(exe), "%s/hello", dir);
	str_fmt(ld_path, sizeof(ld_path), "LD_LIBRARY_PATH=%s/lib", prefix);
	run_ok(argv);
	assert_greetings();
}

static int is_c_file(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return len > 2 && strcmp(d->d_name + len - 2, ".c") == 0;
}

static void test_examples(void **state)
{
	char examples_dir[PATH_MAX * 2], src[PATH_MAX * 3], dir[PATH_MAX], exe[PATH_MAX * 2];
	struct dirent **files;
	int n;

	(void)state;
	str_fmt(examples_dir, sizeof(examples_dir), "%s/examples", src_dir);
	n = scandir(examples_dir, &files, is_c_file, alphasort);
	if (n < 0)
		fail_msg("%s: %s", examples_dir, strerror(errno));
	if (n == 0)
		fail_msg("%s holds no .c file", examples_dir);
	for (int i = 0; i < n; i++) {
		char name[256];
		size_t k;

		str_fmt(name, sizeof(name), "%.*s", (int)strlen(files[i]->d_name) - 2,
			files[i]->d_name);
		for (k = 0; k < ARRAY_SIZE(examples); k++)
			if (strcmp(examples[k].name, name) == 0)
				break;
		if (k == ARRAY_SIZE(examples))
			fail_msg("examples/%s.c: tests/test_install.c has no case that runs it",
				 name);
		str_fmt(src, sizeof(src), "%s/%s", examples_dir, files[i]->d_name);
		program_dir(dir, sizeof(dir), name, src);
		build_with(dir, examples[k].line ? examples[k].line : README_RPATH_LINE);
		str_fmt(exe, sizeof(exe), "%s/hello", dir);
		print_message("  %s: built; running it\n", name);
		examples[k].run(exe);
	}
	for (int i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

static void test_hello_static(void **state)
{
	char dir[PATH_MAX], exe[PATH_MAX * 2];
	char *readelf[] = { "readelf", "-d", exe, NULL };
	char *argv[] = { exe, NULL };
	bool libc = false;

	(void)state;
	program_dir(dir, sizeof(dir), "hello-static", NULL);
	write_readme_hello(dir);
	build_with(dir, README_STATIC_LINE);
	str_fmt(exe, sizeof(exe), "%s/hello", dir);

	run_ok(readelf);
	for (char *p = out; (p = strstr(p, "Shared library: [")) != NULL; p++) {
		const char *lib = p + 17;

		if (strncmp(lib, "libringo", 8) == 0 || strncmp(lib, "liburing", 8) == 0 ||
		    strncmp(lib, "libnuma", 7) == 0)
			fail_msg("the static hello needs a shared library of ringo's:\n%s", out);
		libc |= strncmp(lib, "libc.so.6]", 10) == 0;
	}
	if (!libc)
		fail_msg("the static hello does not use the shared libc:\n%s", out);
	run_ok(argv);
	assert_greetings();
}

static void test_destdir_and_uninstall(void **state)
{
	char destdir[PATH_MAX + 16], stage[PATH_MAX * 2], var[PATH_MAX * 3];
	char prefix_var[PATH_MAX + 16], pc_path[PATH_MAX * 3];
	char *pc;

	(void)state;
	str_fmt(destdir, sizeof(destdir), "%s/stage", tmp_dir);
	str_fmt(stage, sizeof(stage), "%s/usr/local", destdir);
	str_fmt(var, sizeof(var), "DESTDIR=%s", destdir);
	assert_int_equal(run_make("install", var), 0);
	assert_installed(stage);
	str_fmt(pc_path, sizeof(pc_path), "%s/lib/pkgconfig/ringo.pc", stage);
	pc = read_file(pc_path);
	assert_non_null(pc);
	assert_has(pc, "prefix=/usr/local\n");
	free(pc);

	assert_int_equal(run_make("uninstall", var), 0);
	assert_uninstalled(stage);
	str_fmt(prefix_var, sizeof(prefix_var), "PREFIX=%s", prefix);
	assert_int_equal(run_make("uninstall", prefix_var), 0);
	assert_uninstalled(prefix);
}

/* ------------------------------------------------------------------ */
/* Set-up                                                              */
/* ------------------------------------------------------------------ */

/* The source tree: the first directory above this binary's build
 * directory that holds the Makefile, README.md and include/ringo.h. */
static int find_dirs(void)
{
	char self[PATH_MAX], probe[PATH_MAX * 2];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	size_t n;

	if (len < 0) {
		perror("readlink /proc/self/exe");
		return -1;
	}
	self[len] = '\0';
	for (int i = 0; i < 2; i++) { /* BUILD/tests/test_install -> BUILD */
		slash = strrchr(self, '/');
		if (!slash || slash == self)
			goto err_no_tree;
		*slash = '\0';
	}
	str_fmt(build_dir, sizeof(build_dir), "%s", self);
	for (;;) {
		str_fmt(probe, sizeof(probe), "%s/include/ringo.h", self);
		if (access(probe, R_OK) == 0) {
			str_fmt(probe, sizeof(probe), "%s/README.md", self);
			if (access(probe, R_OK) == 0) {
				str_fmt(probe, sizeof(probe), "%s/Makefile", self);
				if (access(probe, R_OK) == 0)
					break;
			}
		}
		slash = strrchr(self, '/');
		if (!slash || slash == self)
			goto err_no_tree;
		*slash = '\0';
	}
	str_fmt(src_dir, sizeof(src_dir), "%s", self);
	n = strlen(src_dir);
	if (strncmp(build_dir, src_dir, n) == 0 && build_dir[n] == '/')
		memmove(build_dir, build_dir + n + 1, strlen(build_dir + n + 1) + 1);
	return 0;

err_no_tree:
	fprintf(stderr, "test_install: no source tree (Makefile, README.md, include/ringo.h) "
			"above this program's build directory\n");
	return -1;
}

static int setup(void **state)
{
	char path[PATH_MAX * 2], var[PATH_MAX + 16];
	const char *tmp = getenv("TMPDIR");

	(void)state;
	str_fmt(path, sizeof(path), "%s/README.md", src_dir);
	readme = read_file(path);
	if (!readme) {
		print_error("%s: cannot read it\n", path);
		return -1;
	}
	/* The directory is quoted in sh command lines: a plain name. */
	if (!tmp || !*tmp || strpbrk(tmp, "'\"\\$` \t\n") || !is_dir(tmp))
		tmp = "/tmp";
	str_fmt(tmp_dir, sizeof(tmp_dir), "%s/ringo-install-XXXXXX", tmp);
	if (!mkdtemp(tmp_dir)) {
		print_error("mkdtemp %s: %s\n", tmp_dir, strerror(errno));
		return -1;
	}
	str_fmt(prefix, sizeof(prefix), "%s/prefix", tmp_dir);
	str_fmt(var, sizeof(var), "PREFIX=%s", prefix);
	if (run_make("install", var) != 0)
		return -1;
	str_fmt(path, sizeof(path), "%s/lib/pkgconfig", prefix);
	setenv("PKG_CONFIG_PATH", path, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
	}
	if (tmp_dir[0])
		nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(readme);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_installed_files),
		cmocka_unit_test(test_hello_shared),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_hello_static),
		cmocka_unit_test(test_destdir_and_uninstall),
	};
	static const char *const tools[] = { "cc", "make", "pkg-config", "readelf", "sh" };

	if (RG_TEST_SANITIZED) {
		fprintf(stderr, "test_install: a sanitizer build's library needs the sanitizer's "
				"flags in every program that links it; run in the plain build\n");
		return 77;
	}
	for (size_t i = 0; i < ARRAY_SIZE(tools); i++) {
		if (!tool_in_path(tools[i])) {
			fprintf(stderr, "test_install: %s is needed (scripts/deps.sh lib)\n",
				tools[i]);
			return 77;
		}
	}
	if (find_dirs() < 0)
		return 1;
	/* make runs afresh: not as a part of the make that may run this. */
	unsetenv("MAKEFLAGS");
	unsetenv("MFLAGS");
	unsetenv("MAKELEVEL");
	/* Only the rpath, or the LD_LIBRARY_PATH a case gives, finds the library. */
	unsetenv("LD_LIBRARY_PATH");
	signal(SIGPIPE, SIG_IGN);
	test_watchdog(110);
	return cmocka_run_group_tests(tests, setup, teardown);
}
