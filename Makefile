# SPDX-License-Identifier: MIT
#
# ringo - GNU make build.
#
#   make [all]                build libringo.a, libringo.so and ringo.pc in build/
#   make test | check         build tests/test_*.c and run them (tests/run.sh);
#                             TESTS="runq chan" runs only those
#   make test SAN=address     the same with ASan + UBSan, in build/san-address/
#   make test SAN=thread      the same with TSan, in build/san-thread/
#   make test CC=clang BUILD=build/clang
#                             the same built by clang
#   make run                  build the benchmarks, run the quick benchmark profile
#   make bench                build the benchmarks, run the full benchmark profile
#   make examples             build examples/*.c
#   make install              PREFIX=/usr/local DESTDIR= (also: uninstall); the gdb
#                             script goes to PREFIX/share/ringo
#   make deps                 install every Debian package of scripts/deps.sh
#   make defconfig            .config from configs/defconfig
#   make menuconfig           edit .config
#   make olddefconfig         update .config after Kconfig changed, new options default
#   make savedefconfig        write the minimal form of .config to ./defconfig
#   make config-header        generate $(BUILD)/include/generated/autoconf.h
#   make lint                 check the layering rules
#   make format | format-check  clang-format the sources / check they are formatted
#   make clean | distclean    remove build/ | and the configuration
#
# V=1 shows full commands.  SKIP_DEPS=1 skips the check for the Debian packages
# (scripts/deps.sh) that every build goal otherwise makes once: the library's,
# and for the test and benchmark goals the tests' or the benchmarks' too.

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules

# ---------------------------------------------------------------------------
# Tools and install locations

PY := /usr/bin/python3
ifeq ($(origin CC),default)
CC := gcc
endif
GO ?= go
CLANG_FORMAT ?= clang-format

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DATADIR ?= $(PREFIX)/share/ringo
DESTDIR ?=

OBJCOPY ?= objcopy

# Libraries that programs linking libringo.a need too (ringo.pc Libs.private);
# libringo.so records them itself.
LIBS = -luring -lpthread -lnuma -lcares

VERSION := $(or $(shell awk '/^\#define RINGO_VERSION_(MAJOR|MINOR|PATCH)[ \t]/ \
		{ v = v sep $$3; sep = "." } END { print v }' include/ringo.h 2>/dev/null),0.1.0)
SOVERSION := 0

# ---------------------------------------------------------------------------
# Build variants: one directory per sanitizer, so they can coexist.

CC_IS_CLANG := $(shell $(CC) --version 2>/dev/null | grep -qi clang && echo y)

SAN ?=
ifeq ($(SAN),)
BUILD := build
OPT := -O2
SANFLAGS :=
else ifeq ($(SAN),address)
BUILD := build/san-address
OPT := -O1
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -DRG_SAN_BUILD
else ifeq ($(SAN),thread)
BUILD := build/san-thread
OPT := -O1
SANFLAGS := -fsanitize=thread -DRG_SAN_BUILD
else
$(error SAN must be empty, "address" or "thread", not "$(SAN)")
endif

AUTOCONF := $(BUILD)/include/generated/autoconf.h
KCONFIG_FILES := Kconfig $(wildcard */Kconfig)

# The generated configuration is included in every translation unit, as in the
# kernel, so no file can test a CONFIG_ symbol without seeing it.
RG_CPPFLAGS := -D_GNU_SOURCE -Iinclude -I. -I$(BUILD)/include -include $(AUTOCONF)
RG_CFLAGS := -std=gnu11 -Wall -Wextra -Werror $(OPT) -g -fno-omit-frame-pointer \
	-fstack-clash-protection -fPIC -fvisibility=hidden $(SANFLAGS)
# CPPFLAGS, CFLAGS and LDFLAGS from the command line are added last.
ALL_CFLAGS = $(RG_CFLAGS) $(RG_CPPFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_ASFLAGS = -D__ASSEMBLY__ -Wall -Werror -g -fPIC -Wa,--noexecstack $(RG_CPPFLAGS) $(CPPFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
# clang links its sanitizer runtimes into executables only: a sanitized
# libringo.so leaves their symbols to the program, so -z defs cannot hold.
SO_DEFS := $(if $(and $(SANFLAGS),$(CC_IS_CLANG)),,-Wl,-z,defs)

ifneq ($(V),1)
Q := @
msg = @printf '  %-8s%s\n' '$(1)' '$(2)'
else
Q :=
msg = @true
endif

# ---------------------------------------------------------------------------
# Sources

LIB_SRCS := $(wildcard kernel_iface/*.c runtime/*.c runtime/*.S numa/*.c runtime/arch/x86_64/*.S)
TEST_SRCS := $(wildcard tests/test_*.c)
BENCH_SRCS := $(wildcard bench/*.c)
GO_BENCH_SRCS := $(wildcard bench/go/*.go)
BASELINE_SRCS := $(wildcard bench/baseline/*.c)
BENCH_TOOL_SRCS := $(wildcard bench/tools/*.c)
EXAMPLE_SRCS := $(wildcard examples/*.c)

# objs(SRCS): the object files of sources, under $(BUILD)/obj/.
objs = $(patsubst %,$(BUILD)/obj/%.o,$(basename $(1)))
# prog_name(SRC): program name of a main source (tests/test_runq.c -> test_runq).
prog_name = $(basename $(notdir $(1)))

LIB_OBJS := $(call objs,$(LIB_SRCS))
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
GO_BENCH_BINS := $(patsubst bench/go/%.go,$(BUILD)/bench/go/%,$(GO_BENCH_SRCS))
BASELINE_BINS := $(patsubst bench/baseline/%.c,$(BUILD)/bench/baseline/%,$(BASELINE_SRCS))
BENCH_TOOL_BINS := $(patsubst bench/tools/%.c,$(BUILD)/bench/tools/%,$(BENCH_TOOL_SRCS))
EXAMPLE_BINS := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRCS))

# Per-program extras, for a test, benchmark or example that needs more than its
# own source file and libringo.a (PROG is the program's name, e.g. test_netpoll):
#   PROG_SRCS    further sources compiled and linked into it
#   PROG_LDLIBS  further libraries, linked before $(LIBS)
# For example:
#   test_netpoll_SRCS := tests/helpers/seccomp.c
#   test_numa_LDLIBS := -lnuma

tls_echo_LDLIBS := -lssl -lcrypto
# bench/dns.c measures c-ares on rg_poll beside rg_getaddrinfo.
dns_LDLIBS := -lcares
test_tls_echo_LDLIBS := -lssl -lcrypto
# test_syscall makes the runtime's thread creation sleep (see the test).
test_syscall_LDLIBS := -Wl,--wrap=pthread_setname_np

PROG_SRCS := $(TEST_SRCS) $(BENCH_SRCS) $(EXAMPLE_SRCS)
EXTRA_SRCS := $(sort $(foreach s,$(PROG_SRCS),$($(call prog_name,$(s))_SRCS)))
ALL_OBJS := $(LIB_OBJS) $(call objs,$(PROG_SRCS) $(EXTRA_SRCS) $(BASELINE_SRCS) $(BENCH_TOOL_SRCS))

# ---------------------------------------------------------------------------
# Build dependencies: the Debian packages of scripts/deps.sh, in three sets.
# Every goal needs the library's (lib); the test goals and the examples (one
# uses OpenSSL), or a test program or example named as a goal, the tests'
# too (test); the benchmark goals the benchmarks' (bench).  Each set is checked, and what it lacks installed,
# once before anything is built, and build/.deps-SET records that it was
# (again when deps.sh changes).  SKIP_DEPS=1 checks nothing.

DEPS_SETS := lib
ifneq ($(filter test tests check examples $(BUILD)/tests/% $(BUILD)/examples/%,$(MAKECMDGOALS)),)
DEPS_SETS += test
endif
ifneq ($(filter run bench bench-build,$(MAKECMDGOALS)),)
DEPS_SETS += bench
endif

ifeq ($(SKIP_DEPS),)
DEPS_STAMP := $(patsubst %,build/.deps-%,$(DEPS_SETS))
build/.deps-%: scripts/deps.sh
	$(Q)bash scripts/deps.sh --check $* || bash scripts/deps.sh $*
	@mkdir -p $(@D) && touch $@
# One apt-get at a time.
build/.deps-test: | build/.deps-lib
build/.deps-bench: | build/.deps-lib $(filter build/.deps-test,$(DEPS_STAMP))
else
DEPS_STAMP :=
endif

.PHONY: deps
deps:
	$(Q)bash scripts/deps.sh all
	@mkdir -p build && touch build/.deps-lib build/.deps-test build/.deps-bench

# ---------------------------------------------------------------------------
# Configuration (Kconfig, through Kconfiglib)
#
# .config is read by make as well: CONFIG_FOO=y is visible here.  When it is
# missing it is created from configs/defconfig.

KCONFIG_ENV := KCONFIG_CONFIG=.config

NOCONFIG_GOALS := clean distclean help lint format format-check uninstall deps
ifneq ($(filter-out $(NOCONFIG_GOALS),$(or $(MAKECMDGOALS),all)),)
-include .config
endif

.config: | $(DEPS_STAMP)
	$(Q)$(KCONFIG_ENV) $(PY) -m defconfig --kconfig Kconfig configs/defconfig >/dev/null

$(AUTOCONF): .config $(KCONFIG_FILES) | $(DEPS_STAMP)
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)$(KCONFIG_ENV) $(PY) -m genconfig --header-path $@ Kconfig
	@touch $@

.PHONY: config-header defconfig menuconfig olddefconfig savedefconfig
config-header: $(AUTOCONF)

defconfig: | $(DEPS_STAMP)
	$(Q)$(KCONFIG_ENV) $(PY) -m defconfig --kconfig Kconfig configs/defconfig

menuconfig: | $(DEPS_STAMP)
	$(Q)$(KCONFIG_ENV) $(PY) -m menuconfig Kconfig

olddefconfig: | $(DEPS_STAMP)
	$(Q)$(KCONFIG_ENV) $(PY) -m olddefconfig Kconfig

savedefconfig: | $(DEPS_STAMP)
	$(Q)$(KCONFIG_ENV) $(PY) -m savedefconfig --kconfig Kconfig --out defconfig

# ---------------------------------------------------------------------------
# The library

.PHONY: all
all: $(BUILD)/libringo.a $(BUILD)/libringo.so $(BUILD)/ringo.pc | $(DEPS_STAMP)

$(BUILD)/obj/%.o: %.c $(AUTOCONF)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(LIB_ONLY_CFLAGS) -MMD -MP -c -o $@ $< $(RENAME_TEXT)

$(BUILD)/obj/%.o: %.S $(AUTOCONF)
	$(call msg,AS,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_ASFLAGS) -MMD -MP -c -o $@ $< $(RENAME_TEXT)

# The library carries the gdb script (.incbin, which -MMD does not see).
$(BUILD)/obj/runtime/gdb_scripts.o: scripts/ringo-gdb.py

# The library's code goes to its own section, ringo_text (one piece per
# function: no cold parts split off to .text.unlikely), so that the
# preemption signal handler can tell the runtime's code from the program's
# by address (__start_ringo_text, __stop_ringo_text; runtime/preempt.c).
# (clang never splits a function without profile data and rejects the flag.)
NO_SPLIT_CFLAGS := $(if $(CC_IS_CLANG),,-fno-reorder-blocks-and-partition)
$(LIB_OBJS): LIB_ONLY_CFLAGS := $(NO_SPLIT_CFLAGS)
$(LIB_OBJS): RENAME_TEXT = && $(OBJCOPY) \
	--rename-section .text=ringo_text,alloc,load,readonly,code,contents $@

# libringo.a holds one relocatable object in which every hidden symbol has
# been made local, so that the runtime's internal names (lock, schedule,
# throw, ...) can never clash with a program's own.  Tests link the plain
# archive, libringo-internal.a, to reach internals on bare Ps.
$(BUILD)/libringo.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	@mkdir -p $(@D)
	$(Q)$(LD) -r -o $(BUILD)/ringo.o $^ && \
		$(OBJCOPY) --localize-hidden $(BUILD)/ringo.o && \
		rm -f $@ && $(AR) rcs $@ $(BUILD)/ringo.o

$(BUILD)/libringo-internal.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# Exports: only rg_* (-fvisibility=hidden, then the version script).
$(BUILD)/libringo.so: $(LIB_OBJS) ringo.map
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -shared $(ALL_LDFLAGS) -Wl,-soname,libringo.so.$(SOVERSION) \
		-Wl,--version-script=ringo.map $(SO_DEFS) -Wl,-z,noexecstack \
		-o $@ $(LIB_OBJS) $(LIBS)
	@ln -sf libringo.so $(BUILD)/libringo.so.$(SOVERSION)

# ringo.pc depends on the values substituted into it, recorded in .pc-vars.
PC_VARS := $(PREFIX)|$(LIBDIR)|$(INCLUDEDIR)|$(VERSION)|$(LIBS)
PC_LIBDIR := $(patsubst $(PREFIX)/%,$${exec_prefix}/%,$(LIBDIR))
PC_INCLUDEDIR := $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))

$(BUILD)/.pc-vars: FORCE
	@mkdir -p $(@D)
	@echo '$(PC_VARS)' | cmp -s - $@ || echo '$(PC_VARS)' > $@

$(BUILD)/ringo.pc: ringo.pc.in $(BUILD)/.pc-vars
	$(call msg,GEN,$@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(PC_LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
		-e 's|@LIBS@|$(LIBS)|g' $< > $@

.PHONY: FORCE
FORCE:

# ---------------------------------------------------------------------------
# Programs: tests, benchmarks, examples.  Each is one main source linked
# against libringo.a, plus its optional PROG_SRCS and PROG_LDLIBS.

# link_prog(BIN, MAIN_SRC, LIBS_BEFORE_LIBS, ARCHIVE)
define link_prog
$(1): $(call objs,$(2) $($(call prog_name,$(2))_SRCS)) $(4)
	$$(call msg,LD,$$@)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(ALL_CFLAGS) $$(ALL_LDFLAGS) -o $$@ $$(filter %.o,$$^) $(4) \
		$$($(call prog_name,$(2))_LDLIBS) $(3) $$(LIBS)
endef

$(foreach s,$(TEST_SRCS),\
	$(eval $(call link_prog,$(BUILD)/tests/$(call prog_name,$(s)),$(s),-lcmocka,$(BUILD)/libringo-internal.a)))
# test_dns asks dnsd, the dns benchmark's server, for its answers.
$(BUILD)/tests/test_dns: $(BUILD)/bench/tools/dnsd
$(foreach s,$(BENCH_SRCS),\
	$(eval $(call link_prog,$(BUILD)/bench/$(call prog_name,$(s)),$(s),,$(BUILD)/libringo.a)))
$(foreach s,$(EXAMPLE_SRCS),\
	$(eval $(call link_prog,$(BUILD)/examples/$(call prog_name,$(s)),$(s),,$(BUILD)/libringo.a)))

# Baselines of the benchmarks (bench/baseline/<name>.c): plain C programs
# doing a benchmark's work without ringo, run by bench.py as a third side;
# those named <name>_uring use liburing.
$(BUILD)/bench/baseline/%: $(BUILD)/obj/bench/baseline/%.o
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(if $(filter %_uring,$*),-luring) -lpthread

# Tools the benchmarks run beside them (bench/tools/<name>.c): plain C
# programs without ringo, such as the dns benchmark's server, dnsd.
$(BUILD)/bench/tools/%: $(BUILD)/obj/bench/tools/%.o
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

# Go twins of the benchmarks.  Caches live in build/ so that a fresh machine
# (or root without a home directory) needs nothing else.
GO_ENV := GOCACHE=$(abspath build/gocache) GOPATH=$(abspath build/gopath) \
	GO111MODULE=off GOFLAGS= GOENV=off GOTOOLCHAIN=local

$(BUILD)/bench/go/%: bench/go/%.go | $(DEPS_STAMP)
	$(call msg,GO,$@)
	@mkdir -p $(@D)
	$(Q)$(GO_ENV) $(GO) build -o $@ $<

.PHONY: tests test check examples bench-build bench run
# Some tests drive the examples (tests/test_kv_server.c, test_http_hello.c).
tests: all $(TEST_BINS) $(EXAMPLE_BINS)

# make test runs up to three passes, then one line that adds them up
# (tests/run.sh --total):
#   - every test (or those of TESTS);
#   - the I/O tests, and the metrics, trace and dump tests, which see the poller
#     (NETPOLL_TESTS), again on the epoll backend;
#   - the tests whose checks exist only in debug builds (DEBUG_TESTS) again,
#     built in $(DEBUG_BUILD) with .config plus DEBUG_CONFIG (the user's
#     .config is left alone).  Sanitizer builds have the debug checks
#     already (RG_SAN_BUILD), as has a .config with CONFIG_DEBUG_CHECKS=y:
#     no debug pass there.
NETPOLL_TESTS := test_ctx test_io_net test_io_deadline test_io_cancel test_io_file test_io_poller test_io_poll test_io_msg test_timer test_dns \
	test_io_backend test_io_errno test_time test_lockthread test_metrics test_trace test_dump
DEBUG_TESTS := test_lockrank test_lockthread test_sched
DEBUG_CONFIG := CONFIG_DEBUG_CHECKS=y
DEBUG_BUILD := $(BUILD)/debug
TEST_TALLY := $(BUILD)/test-tally

RUN_TESTS = $(or $(TESTS),$(notdir $(TEST_BINS)))
RUN_NAMES = $(patsubst %,test_%,$(patsubst test_%,%,$(RUN_TESTS)))
EPOLL_TESTS = $(filter $(NETPOLL_TESTS),$(RUN_NAMES))
DEBUG_RUN = $(if $(SAN)$(CONFIG_DEBUG_CHECKS),,$(filter $(DEBUG_TESTS),$(RUN_NAMES)))

test: tests $(if $(DEBUG_RUN),tests-debug)
	$(Q)rc=0; rm -f $(TEST_TALLY); \
	export RINGO_SAN=$(SAN) RINGO_TEST_TALLY=$(TEST_TALLY); \
	RINGO_TEST_PASS=default bash tests/run.sh $(BUILD)/tests $(RUN_TESTS) || rc=1; \
	$(if $(EPOLL_TESTS),echo "=== again with RINGO_NETPOLL=epoll"; \
		RINGO_NETPOLL=epoll RINGO_TEST_PASS=epoll \
		bash tests/run.sh $(BUILD)/tests $(EPOLL_TESTS) || rc=1;) \
	$(if $(DEBUG_RUN),echo "=== again built with $(DEBUG_CONFIG) ($(DEBUG_BUILD))"; \
		RINGO_TEST_PASS=debug bash tests/run.sh $(DEBUG_BUILD)/tests $(DEBUG_RUN) || rc=1;) \
	bash tests/run.sh --total $(TEST_TALLY) || rc=1; \
	exit $$rc

# The debug build: its own configuration, header and objects.  The sub-make
# takes its header from $(DEBUG_BUILD)/.config (KCONFIG_ENV), which is
# .config with DEBUG_CONFIG applied, completed by Kconfig.
.PHONY: tests-debug
tests-debug: $(DEBUG_BUILD)/.config
	$(Q)$(MAKE) --no-print-directory BUILD=$(DEBUG_BUILD) SAN= \
		KCONFIG_ENV=KCONFIG_CONFIG=$(DEBUG_BUILD)/.config \
		$(addprefix $(DEBUG_BUILD)/tests/,$(DEBUG_RUN))

DEBUG_OPTIONS := $(foreach o,$(DEBUG_CONFIG),$(firstword $(subst =, ,$(o))))

$(DEBUG_BUILD)/.config: .config $(DEBUG_BUILD)/.config-vars $(KCONFIG_FILES) | $(DEPS_STAMP)
	$(call msg,GEN,$@)
	$(Q){ grep -v -E '^(# )?($(subst $() ,|,$(DEBUG_OPTIONS)))[= ]' .config; \
		printf '%s\n' $(DEBUG_CONFIG); } >$@.in
	$(Q)KCONFIG_CONFIG=$@ $(PY) -m defconfig --kconfig Kconfig $@.in >/dev/null
	$(Q)rm -f $@.in $(DEBUG_BUILD)/include/generated/autoconf.h

$(DEBUG_BUILD)/.config-vars: FORCE
	@mkdir -p $(@D)
	@echo '$(DEBUG_CONFIG)' | cmp -s - $@ || echo '$(DEBUG_CONFIG)' > $@

check: test

examples: all $(EXAMPLE_BINS)

# bench/http drives examples/http_hello, so the examples are built too.
# The benchmarks drive http_hello and kv_server; tls_echo needs OpenSSL,
# one of the tests' packages.
bench-build: all $(BENCH_BINS) $(GO_BENCH_BINS) $(BASELINE_BINS) $(BENCH_TOOL_BINS) \
	$(filter-out $(BUILD)/examples/tls_echo,$(EXAMPLE_BINS))

bench: bench-build
	$(PY) scripts/bench.py --profile full --build $(BUILD)

run: bench-build
	$(PY) scripts/bench.py --profile quick --build $(BUILD)

# ---------------------------------------------------------------------------
# Install

.PHONY: install uninstall
install: all
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/ringo.h $(DESTDIR)$(INCLUDEDIR)/ringo.h
	install -m 644 $(BUILD)/libringo.a $(DESTDIR)$(LIBDIR)/libringo.a
	install -m 755 $(BUILD)/libringo.so $(DESTDIR)$(LIBDIR)/libringo.so.$(SOVERSION)
	ln -sf libringo.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libringo.so
	install -m 644 $(BUILD)/ringo.pc $(DESTDIR)$(PKGCONFIGDIR)/ringo.pc
	install -d $(DESTDIR)$(DATADIR)
	install -m 644 scripts/ringo-gdb.py $(DESTDIR)$(DATADIR)/ringo-gdb.py

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/ringo.h $(DESTDIR)$(LIBDIR)/libringo.a \
		$(DESTDIR)$(LIBDIR)/libringo.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libringo.so \
		$(DESTDIR)$(PKGCONFIGDIR)/ringo.pc $(DESTDIR)$(DATADIR)/ringo-gdb.py
	-rmdir $(DESTDIR)$(DATADIR) 2>/dev/null

# ---------------------------------------------------------------------------
# Lint: the layering rules of the library (scripts/lint.sh says which).

.PHONY: lint
lint:
	@bash scripts/lint.sh

# ---------------------------------------------------------------------------
# Formatting (.clang-format: kernel style)

FORMAT_FILES = $(shell find include kernel_iface runtime numa tests bench examples \
	-type f -name '*.[ch]' 2>/dev/null | sort)

.PHONY: format format-check
format:
	@command -v $(CLANG_FORMAT) >/dev/null || \
		{ echo "format: $(CLANG_FORMAT) not found (apt-get install clang-format)"; exit 1; }
	$(if $(FORMAT_FILES),$(CLANG_FORMAT) -i $(FORMAT_FILES))

format-check:
	@command -v $(CLANG_FORMAT) >/dev/null || \
		{ echo "format-check: $(CLANG_FORMAT) not found (apt-get install clang-format)"; exit 1; }
	$(if $(FORMAT_FILES),$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES))

# ---------------------------------------------------------------------------

.PHONY: clean distclean help
clean:
	rm -rf build

distclean: clean
	rm -f .config .config.old defconfig

help:
	@sed -n '/^#   make/,/^$$/p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

-include $(ALL_OBJS:.o=.d)
