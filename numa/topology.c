/* SPDX-License-Identifier: MIT */
/*
 * numa/topology.c - the machine's NUMA topology (libnuma) and synthetic
 * ones from RINGO_NUMA_TOPOLOGY (see numa/topology.h).
 */
#include "numa/topology.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>

#include <numa.h>

/* Numbers beyond any valid id or distance, so that parsing cannot overflow. */
#define PARSE_NUMBER_MAX 9999999

static void topo_init(struct topo *t, int nnodes, enum topo_kind kind, bool synthetic)
{
	int i, j;

	t->nnodes = nnodes;
	t->kind = kind;
	t->synthetic = synthetic;
	t->nids = 0;
	t->nlisted = 0;
	t->fallback_node = 0;
	memset(t->node_count, 0, sizeof(t->node_count));
	memset(t->node_of, TOPO_NO_NODE, sizeof(t->node_of));
	for (i = 0; i < TOPO_MAX_NODES; i++)
		for (j = 0; j < TOPO_MAX_NODES; j++)
			t->distance[i][j] = i == j ? TOPO_DISTANCE_LOCAL : TOPO_DISTANCE_REMOTE;
}

/* List id in node; false if another node lists it already. */
static bool topo_add(struct topo *t, int node, int id)
{
	if (t->node_of[id] != TOPO_NO_NODE)
		return false;
	t->node_of[id] = (uint8_t)node;
	t->node_count[node]++;
	t->nlisted++;
	if (id >= t->nids)
		t->nids = id + 1;
	return true;
}

/* fallback_node: the first node listing something (0 if none does). */
static void topo_finish(struct topo *t)
{
	int n;

	t->fallback_node = 0;
	for (n = 0; n < t->nnodes; n++) {
		if (t->node_count[n]) {
			t->fallback_node = n;
			break;
		}
	}
}

/* --- the machine ---------------------------------------------------------- */

static int topo_single_node(struct topo *t)
{
	int ncpus = get_nprocs_conf(), cpu;

	topo_init(t, 1, TOPO_CPUS, false);
	if (ncpus < 1)
		ncpus = 1;
	for (cpu = 0; cpu < ncpus && cpu < TOPO_MAX_IDS; cpu++)
		topo_add(t, 0, cpu);
	topo_finish(t);
	return 0;
}

/* Only nodes in numa_nodes_ptr are asked about: for them libnuma's sysfs
 * reads succeed, and it never has a reason to print a warning. */
static void topo_read_node(struct topo *t, int node, struct bitmask *cpus)
{
	unsigned long cpu;
	int other, d;

	if (numa_node_to_cpus(node, cpus) == 0) {
		for (cpu = 0; cpu < cpus->size && cpu < TOPO_MAX_IDS; cpu++)
			if (numa_bitmask_isbitset(cpus, (unsigned int)cpu))
				topo_add(t, node, (int)cpu);
	}
	for (other = 0; other < t->nnodes; other++) {
		if (!numa_bitmask_isbitset(numa_nodes_ptr, (unsigned int)other))
			continue;
		d = numa_distance(node, other);
		if (d > 0 && d <= 255)
			t->distance[node][other] = (uint8_t)d;
	}
}

int topo_from_system(struct topo *t)
{
	struct bitmask *cpus;
	int nnodes, node;

	if (numa_available() < 0)
		return topo_single_node(t);
	nnodes = numa_max_node() + 1;
	if (nnodes > TOPO_MAX_NODES)
		nnodes = TOPO_MAX_NODES;
	if (nnodes < 1)
		return topo_single_node(t);
	topo_init(t, nnodes, TOPO_CPUS, false);
	cpus = numa_allocate_cpumask();
	for (node = 0; node < nnodes; node++)
		if (numa_bitmask_isbitset(numa_nodes_ptr, (unsigned int)node))
			topo_read_node(t, node, cpus);
	numa_free_cpumask(cpus);
	if (t->nlisted == 0)
		return topo_single_node(t);
	topo_finish(t);
	return 0;
}

/* --- RINGO_NUMA_TOPOLOGY --------------------------------------------------- */

struct parser {
	const char *s;
	int pos;
	struct topo *t;
	struct topo_error *err;
	int where[TOPO_MAX_IDS]; /* offset of the range that lists each id */
};

static int parse_fail(struct parser *ps, int pos, const char *msg)
{
	ps->err->pos = pos;
	ps->err->msg = msg;
	return -EINVAL;
}

static char parse_peek(struct parser *ps)
{
	while (ps->s[ps->pos] == ' ' || ps->s[ps->pos] == '\t')
		ps->pos++;
	return ps->s[ps->pos];
}

/* A decimal number; *at is where it starts. */
static int parse_number(struct parser *ps, int *val, int *at)
{
	char c = parse_peek(ps);
	int v = 0;

	*at = ps->pos;
	if (c < '0' || c > '9')
		return parse_fail(ps, ps->pos, "expected a number");
	while ((c = ps->s[ps->pos]) >= '0' && c <= '9') {
		if (v <= PARSE_NUMBER_MAX)
			v = v * 10 + (c - '0');
		ps->pos++;
	}
	*val = v;
	return 0;
}

static int parse_kind(struct parser *ps, enum topo_kind *kind)
{
	char c = parse_peek(ps);

	if (!strncmp(ps->s + ps->pos, "cpu", 3)) {
		*kind = TOPO_CPUS;
		ps->pos += 3;
		return 0;
	}
	if (c == 'p') {
		*kind = TOPO_PS;
		ps->pos++;
		return 0;
	}
	return parse_fail(ps, ps->pos, "expected \"p\" or \"cpu\"");
}

/* range := N [ "-" N ], listed in node. */
static int parse_range(struct parser *ps, int node)
{
	struct topo *t = ps->t;
	int start, end, at, end_at, id;

	if (parse_number(ps, &start, &at))
		return -EINVAL;
	end = start;
	end_at = at;
	if (parse_peek(ps) == '-') {
		ps->pos++;
		if (parse_number(ps, &end, &end_at))
			return -EINVAL;
	}
	if (end >= TOPO_MAX_IDS)
		return parse_fail(ps, start >= TOPO_MAX_IDS ? at : end_at,
				  t->kind == TOPO_PS ? "P number too large" :
						       "CPU number too large");
	if (end < start)
		return parse_fail(ps, end_at, "range end before start");
	for (id = start; id <= end; id++) {
		if (t->node_of[id] == node)
			return parse_fail(
				ps, at, t->kind == TOPO_PS ? "P listed twice" : "CPU listed twice");
		if (!topo_add(t, node, id))
			return parse_fail(ps, at,
					  t->kind == TOPO_PS ? "P listed in two nodes" :
							       "CPU listed in two nodes");
		ps->where[id] = at;
	}
	return 0;
}

/* nodes := node { ";" node }; stops before "/" or at the end. */
static int parse_nodes(struct parser *ps)
{
	struct topo *t = ps->t;
	enum topo_kind kind;
	int at;
	char c;

	for (;;) {
		parse_peek(ps);
		at = ps->pos;
		if (t->nnodes == TOPO_MAX_NODES)
			return parse_fail(ps, at, "too many nodes");
		if (parse_kind(ps, &kind))
			return -EINVAL;
		if (t->nnodes == 0)
			t->kind = kind;
		else if (kind != t->kind)
			return parse_fail(ps, at, "all nodes must be \"p\" or all \"cpu\"");
		t->nnodes++;
		for (;;) {
			if (parse_range(ps, t->nnodes - 1))
				return -EINVAL;
			c = parse_peek(ps);
			if (c != ',')
				break;
			ps->pos++;
		}
		if (c != ';')
			break;
		ps->pos++;
	}
	if (c != '/' && c != '\0')
		return parse_fail(ps, ps->pos, "expected \",\", \";\" or \"/\"");
	return 0;
}

/* P topologies list 0..k-1: point at the first P listed above a hole. */
static int parse_check_holes(struct parser *ps)
{
	struct topo *t = ps->t;
	int id;

	if (t->kind != TOPO_PS || t->nlisted == t->nids)
		return 0;
	for (id = 0; t->node_of[id] != TOPO_NO_NODE; id++)
		;
	while (t->node_of[id] == TOPO_NO_NODE)
		id++;
	return parse_fail(ps, ps->where[id], "Ps must be numbered 0..N-1 without holes");
}

/* row := N { "," N }, the distances from node row. */
static int parse_row(struct parser *ps, int row)
{
	struct topo *t = ps->t;
	int col = 0, d, at, local_at = 0;

	for (;;) {
		if (parse_number(ps, &d, &at))
			return -EINVAL;
		if (col == t->nnodes)
			return parse_fail(ps, at, "distance matrix is not N x N");
		if (d < 1 || d > 255)
			return parse_fail(ps, at, "distance must be 1..255");
		if (col == row)
			local_at = at;
		t->distance[row][col++] = (uint8_t)d;
		if (parse_peek(ps) != ',')
			break;
		ps->pos++;
	}
	if (col != t->nnodes)
		return parse_fail(ps, ps->pos, "distance matrix is not N x N");
	for (col = 0; col < t->nnodes; col++)
		if (col != row && t->distance[row][col] <= t->distance[row][row])
			return parse_fail(ps, local_at,
					  "local distance must be smallest in its row");
	return 0;
}

/* distances := row { ";" row }, after the "/". */
static int parse_distances(struct parser *ps)
{
	struct topo *t = ps->t;
	int row = 0;
	char c;

	for (;;) {
		parse_peek(ps);
		if (row == t->nnodes)
			return parse_fail(ps, ps->pos, "distance matrix is not N x N");
		if (parse_row(ps, row++))
			return -EINVAL;
		c = parse_peek(ps);
		if (c != ';')
			break;
		ps->pos++;
	}
	if (c != '\0')
		return parse_fail(ps, ps->pos, "expected \",\" or \";\"");
	if (row != t->nnodes)
		return parse_fail(ps, ps->pos, "distance matrix is not N x N");
	return 0;
}

int topo_parse(const char *s, struct topo *t, struct topo_error *err)
{
	struct parser ps = { .s = s, .pos = 0, .t = t, .err = err };

	topo_init(t, 0, TOPO_PS, true);
	if (parse_peek(&ps) == '\0')
		return parse_fail(&ps, 0, "empty topology");
	if (parse_nodes(&ps) || parse_check_holes(&ps))
		return -EINVAL;
	if (s[ps.pos] == '/') {
		ps.pos++;
		if (parse_distances(&ps))
			return -EINVAL;
	}
	topo_finish(t);
	return 0;
}

/* --- formatting ------------------------------------------------------------ */

/* An snprintf-like appender: counts everything, stores what fits. */
struct fmt {
	char *buf;
	size_t len;
	size_t used;
};

static void fmt_add(struct fmt *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fmt_add(struct fmt *f, const char *fmt, ...)
{
	size_t room = f->used < f->len ? f->len - f->used : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? f->buf + f->used : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		f->used += (size_t)n;
}

/* value with control and non-ASCII bytes as '?', so the caret lines up. */
static void fmt_value(struct fmt *f, const char *value)
{
	for (; *value; value++) {
		unsigned char c = (unsigned char)*value;

		fmt_add(f, "%c", c >= 0x20 && c < 0x7f ? c : '?');
	}
}

static int fmt_end(struct fmt *f)
{
	if (f->len && f->used >= f->len)
		f->buf[f->len - 1] = '\0';
	return f->used > INT32_MAX ? INT32_MAX : (int)f->used;
}

int topo_format_error(char *buf, size_t len, const char *value, const struct topo_error *err)
{
	struct fmt f = { .buf = buf, .len = len, .used = 0 };

	if (len)
		buf[0] = '\0';
	fmt_add(&f, "RINGO_NUMA_TOPOLOGY: %s at position %d: \"", err->msg, err->pos);
	fmt_value(&f, value);
	fmt_add(&f, "\"\n    ");
	fmt_value(&f, value);
	fmt_add(&f, "\n    %*s^", err->pos, "");
	return fmt_end(&f);
}

/* node's members as ranges: "0-3,8-11". */
static void fmt_members(struct fmt *f, const struct topo *t, int node)
{
	const char *sep = "";
	int id = 0, end;

	while (id < t->nids) {
		if (t->node_of[id] != node) {
			id++;
			continue;
		}
		for (end = id; end + 1 < t->nids && t->node_of[end + 1] == node; end++)
			;
		if (end == id)
			fmt_add(f, "%s%d", sep, id);
		else
			fmt_add(f, "%s%d-%d", sep, id, end);
		sep = ",";
		id = end + 1;
	}
}

int topo_describe(const struct topo *t, char *buf, size_t len)
{
	struct fmt f = { .buf = buf, .len = len, .used = 0 };
	const char *what = t->kind == TOPO_PS ? "Ps" : "CPUs";
	int n, m;

	if (len)
		buf[0] = '\0';
	fmt_add(&f, "numa: %d node%s, %s, node sets of %s\n", t->nnodes, t->nnodes == 1 ? "" : "s",
		t->synthetic ? "synthetic (RINGO_NUMA_TOPOLOGY)" : "from the system", what);
	for (n = 0; n < t->nnodes; n++) {
		fmt_add(&f, "  node %d: ", n);
		if (t->node_count[n]) {
			fmt_add(&f, "%s ", what);
			fmt_members(&f, t, n);
			fmt_add(&f, " (%d)\n", t->node_count[n]);
		} else {
			fmt_add(&f, "no %s\n", what);
		}
	}
	fmt_add(&f, "  distances:\n      ");
	for (m = 0; m < t->nnodes; m++)
		fmt_add(&f, " %3d", m);
	fmt_add(&f, "\n");
	for (n = 0; n < t->nnodes; n++) {
		fmt_add(&f, "  %3d:", n);
		for (m = 0; m < t->nnodes; m++)
			fmt_add(&f, " %3d", t->distance[n][m]);
		fmt_add(&f, "\n");
	}
	return fmt_end(&f);
}
