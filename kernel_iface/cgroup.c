/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/cgroup.c - the cgroup v2 CPU quota and the default P count.
 *
 * How the quota is found
 * ----------------------
 * cgroup v2 puts every process in one cgroup of the unified hierarchy,
 * named by the "0::/path" line of /proc/self/cgroup; its directory is
 * <mount point>/path, /sys/fs/cgroup/path on a unified (v2-only) system.
 * Each cgroup directory but the root has a cpu.max file, "QUOTA PERIOD"
 * (microseconds of CPU time each PERIOD microseconds) or "max PERIOD"
 * (no limit).  A process gets at most the smallest QUOTA/PERIOD along the
 * path from its cgroup up to the root, so ki_cgroup_cpu_limit reads every
 * cpu.max on that path and keeps the smallest ratio.  (Go 1.25 reads only
 * the leaf's file and says so in runtime/cgroup_linux.go; uber-go/
 * automaxprocs likewise.  Reading the ancestors too costs a few reads at
 * start-up and finds a tighter parent limit where one is visible.)
 *
 * The mount point subtlety, kept minimal: inside a container with its own
 * cgroup namespace /proc/self/cgroup says "0::/" and /sys/fs/cgroup is the
 * container's own cgroup, which is right.  But a container can also see a
 * path from outside its namespace ("0::/../../x"), or a path of the host's
 * hierarchy while /sys/fs/cgroup is its own cgroup mounted alone.  When the
 * path has a ".." component or root + path is not a directory, only
 * root/cpu.max is read: the cgroup mounted there is the closest one we can
 * see.  /proc/self/mountinfo is not consulted (Go and automaxprocs do, to
 * find a cgroup2 mount elsewhere than /sys/fs/cgroup; a hybrid system's
 * /sys/fs/cgroup/unified has no cpu controller anyway).
 *
 * cgroup v1 (cpu.cfs_quota_us) is not read: on a v1-only system, with no
 * "0::" line, the answer is -ENOENT, which ki_default_procs takes as no
 * limit.
 */
#include "kernel_iface/kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CGROUP_PROC_SELF "/proc/self/cgroup"
#define CGROUP_ROOT	 "/sys/fs/cgroup"
#define CPU_MAX_FILE	 "/cpu.max"

/*
 * Find the "0::" line of the file proc_self_cgroup (the format of
 * /proc/self/cgroup) and return its path, malloc'd, through *path.
 * Returns 0, -ENOENT if there is no such line (cgroup v1 only), -EINVAL if
 * the path is not absolute, -errno.
 */
static int cgroup_v2_path(const char *proc_self_cgroup, char **path)
{
	FILE *f = fopen(proc_self_cgroup, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while ((len = getline(&line, &cap, f)) >= 0) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (line[3] != '/') {
			r = -EINVAL;
			break;
		}
		*path = strdup(line + 3);
		r = *path ? 0 : -ENOMEM;
		break;
	}
	if (r == -ENOENT && ferror(f))
		r = -EIO;
	free(line);
	fclose(f);
	return r;
}

/* Does the absolute path have a ".." component? */
static bool path_has_dotdot(const char *path)
{
	const char *p;

	for (p = strstr(path, "/.."); p; p = strstr(p + 1, "/.."))
		if (p[3] == '/' || p[3] == '\0')
			return true;
	return false;
}

/* Parse a decimal number of at most 18 digits (no sign, no spaces) at *s,
 * advancing *s.  Returns 0 or -EINVAL. */
static int parse_dec(const char **s, int64_t *v)
{
	const char *p = *s;
	int64_t n = 0;

	while (*p >= '0' && *p <= '9' && p - *s < 18)
		n = n * 10 + (*p++ - '0');
	if (p == *s || (*p >= '0' && *p <= '9'))
		return -EINVAL;
	*s = p;
	*v = n;
	return 0;
}

/*
 * Parse the content of a cpu.max file: "max PERIOD" or "QUOTA PERIOD",
 * both positive, one space between, an optional newline at the end and
 * nothing else.  Returns 1 with *quota and *period set, 0 for "max" (no
 * limit), -EINVAL for anything else.
 */
static int cpu_max_parse(const char *s, int64_t *quota, int64_t *period)
{
	bool unlimited = strncmp(s, "max ", 4) == 0;

	if (unlimited)
		s += 3;
	else if (parse_dec(&s, quota) < 0 || *quota <= 0)
		return -EINVAL;
	if (*s++ != ' ' || parse_dec(&s, period) < 0 || *period <= 0)
		return -EINVAL;
	if (*s == '\n')
		s++;
	if (*s != '\0')
		return -EINVAL;
	return unlimited ? 0 : 1;
}

/*
 * Read and parse the cpu.max file at path (cpu_max_parse's results).  A
 * missing file is no limit (0); a file too long to be cpu.max is -EINVAL.
 */
static int cpu_max_read(const char *path, int64_t *quota, int64_t *period)
{
	char buf[64]; /* two int64 values, a space and a newline fit in 40 */
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			return (int)n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len == sizeof(buf) - 1)
		return -EINVAL;
	buf[len] = '\0';
	return cpu_max_parse(buf, quota, period);
}

/* Is path an existing directory? */
static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Read the cpu.max files of dir[0..end) and its ancestors down to
 * dir[0..rootlen) (dir[rootlen] is '/' whenever end > rootlen), keeping the
 * smallest quota/period in *limit.  dir has room for CPU_MAX_FILE after
 * end.  Returns 1 if some file had a limit, 0 if none did, -errno.
 */
static int cpu_max_walk(char *dir, size_t end, size_t rootlen, double *limit)
{
	int found = 0;

	for (;;) {
		int64_t quota = 0, period = 1;
		int r;

		memcpy(dir + end, CPU_MAX_FILE, sizeof(CPU_MAX_FILE));
		r = cpu_max_read(dir, &quota, &period);
		if (r < 0)
			return r;
		if (r > 0 && (!found || (double)quota / (double)period < *limit)) {
			*limit = (double)quota / (double)period;
			found = 1;
		}
		if (end == rootlen)
			return found;
		while (dir[--end] != '/')
			;
	}
}

static int cgroup_cpu_limit(const char *proc_self_cgroup, const char *cgroup_root, double *limit)
{
	const char *root = cgroup_root ? cgroup_root : CGROUP_ROOT;
	size_t rootlen = strlen(root), pathlen, end;
	char *path = NULL, *dir;
	int saved = errno;
	int r;

	if (!limit)
		return -EINVAL;
	r = cgroup_v2_path(proc_self_cgroup ? proc_self_cgroup : CGROUP_PROC_SELF, &path);
	if (r < 0)
		goto out;
	while (rootlen > 0 && root[rootlen - 1] == '/')
		rootlen--;
	pathlen = strlen(path);
	while (pathlen > 0 && path[pathlen - 1] == '/')
		pathlen--;
	dir = malloc(rootlen + pathlen + sizeof(CPU_MAX_FILE));
	if (!dir) {
		r = -ENOMEM;
		goto out_free_path;
	}
	memcpy(dir, root, rootlen);
	memcpy(dir + rootlen, path, pathlen);
	end = rootlen + pathlen;
	dir[end] = '\0';
	/* "/" for a root of "/", so that is_dir sees a path */
	if (path_has_dotdot(path) || !is_dir(end ? dir : "/"))
		end = rootlen; /* see "The mount point subtlety" above */
	r = cpu_max_walk(dir, end, rootlen, limit);
	free(dir);
out_free_path:
	free(path);
out:
	errno = saved;
	return r;
}

int ki_cgroup_cpu_limit(const char *proc_self_cgroup, const char *cgroup_root, double *limit)
{
	int r;

	ki_call_enter(); /* stdio and malloc */
	r = cgroup_cpu_limit(proc_self_cgroup, cgroup_root, limit);
	ki_call_exit();
	return r;
}

/*
 * Go 1.25's rule (runtime/cgroup_linux.go, adjustCgroupGOMAXPROCS): the
 * limit is rounded up, then raised to at least 2, and lowers the CPU count
 * only if it is smaller.  So a 0.5 or 1.5 CPU quota gives 2 Ps on a
 * machine with 2 or more CPUs, a 2.5 CPU quota 3, and a mask of one CPU
 * always 1 P.  (Go's source leaves the reason for the minimum of 2 as a
 * TODO; with one P every goroutine waits behind whichever holds it, which
 * costs more than some throttling.  uber-go/automaxprocs instead rounds
 * down with a minimum of 1; we follow Go.)
 */
int ki_default_procs(const char *proc_self_cgroup, const char *cgroup_root)
{
	int procs = ki_affinity_count();
	double limit;

	if (procs < 0)
		return procs;
	/* Errors reading the cgroup leave the CPU count, as in Go. */
	if (ki_cgroup_cpu_limit(proc_self_cgroup, cgroup_root, &limit) == 1) {
		if (limit < 2)
			limit = 2;
		if (limit < procs) {
			int whole = (int)limit;

			procs = whole < limit ? whole + 1 : whole; /* ceil */
		}
	}
	return procs;
}
