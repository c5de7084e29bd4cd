# om - one plain Makefile: libom (format/), the programs (tools/), the tests.
#
#   make                      build libom and the programs
#   make check                install what is missing, build, run every test
#   make SANITIZE=address,undefined check
#   make fuzz                 the libFuzzer targets of fuzz/ (clang), FUZZ_SECONDS each
#   make bench                the benchmarks (docs/performance.md)
#   make demo                 the whole pipeline on the sample instance (demo/demo.sh)
#   make install PREFIX=/usr/local DESTDIR=
#   make uninstall PREFIX=/usr/local DESTDIR=
#   make DEVELOPER=1          warnings are errors (-Werror; .ci/run sets it)
#
# CC, CPPFLAGS, CFLAGS, LDFLAGS and PKG_CONFIG are honoured.

VERSION    = 0.1.0
PREFIX    ?= /usr/local
BINDIR     = $(PREFIX)/bin
MANDIR     = $(PREFIX)/share/man
COMPDIR    = $(PREFIX)/share/bash-completion/completions
DOCDIR     = $(PREFIX)/share/doc/om
CC        ?= cc
CFLAGS    ?= -O2 -g
PKG_CONFIG ?= pkg-config
PKGS       = libarchive libsodium libzstd libpq jansson libutf8proc nettle

# Asked once, when a compile or link first needs them, so that make check
# can install the packages first; pkg-config's own errors are shown by the
# flags rule below.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -pthread)$(PKG_LIBS)

WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wformat=2 -Wno-format-nonliteral -Wvla -Wpointer-arith
# Warnings stop the build only for developers and CI: a user's newer
# compiler may warn about what this one does not.
ifneq ($(DEVELOPER),)
WARN += -Werror
endif
ALL_CFLAGS = -std=c17 -D_POSIX_C_SOURCE=200809L -DOM_VERSION='"$(VERSION)"' \
	     $(WARN) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -pthread
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

B = build

LIB_SRC  = $(wildcard format/*.c)
LIB_OBJ  = $(LIB_SRC:format/%.c=$(B)/format/%.o) $(B)/format/store_sql.o \
	   $(B)/format/upgrade_sql.o
# The store's upgrade steps: spec/upgrade-N.sql takes format N-1 to N.
UPGRADE_SQL = $(wildcard spec/upgrade-*.sql)
LIB      = $(B)/libom.a
PROGS    = om-store om-export om-encrypt om-diff om-import om-octopus
# Shell scripts installed next to the programs, built from tools/NAME.sh.
SCRIPTS  = om-snapshot
TOOL_OBJ = $(B)/tools/common.o $(B)/tools/password.o
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT     = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
MAN      = $(wildcard docs/*.1)
FUZZ     = canon names bundle dir octopus
FUZZ_SECONDS ?= 60

all: $(PROGS) $(SCRIPTS)

# Objects depend on the flags they were built with, so that switching
# SANITIZE or CFLAGS rebuilds everything.
$(B)/flags: FORCE
	@$(PKG_CONFIG) --exists --print-errors $(PKGS) || \
		{ echo "om: $(PKG_CONFIG) cannot find $(PKGS) (tests/deps.sh installs them)" >&2; exit 2; }
	@mkdir -p $(B)
	@echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' > $@

$(B)/format/%.o: format/%.c format/*.h $(B)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# spec/store.sql, built into libom so that om-store init needs no data files.
$(B)/format/store_sql.c: spec/store.sql tests/embed.sh
	@mkdir -p $(@D)
	sh tests/embed.sh om_store_sql < spec/store.sql > $@

# The upgrade steps too, as om_store_steps[] (format/upgrade.h): step i
# takes format i + 1 to i + 2, so the files must be numbered from 2 on
# without a gap.
$(B)/format/upgrade_sql.c: $(UPGRADE_SQL) tests/embed.sh Makefile
	@mkdir -p $(@D)
	n=2; while [ -f spec/upgrade-$$n.sql ]; do \
		sh tests/embed.sh "om_upgrade_sql_$$n" < spec/upgrade-$$n.sql || exit 2; \
		n=$$((n + 1)); done > $@.tmp && \
	test $$((n - 2)) = $(words $(UPGRADE_SQL)) || { echo "spec/upgrade-*.sql: not numbered 2, 3, ..." >&2; exit 2; }; \
	{ printf 'const char *const om_store_steps[] = {\n'; \
	  i=2; while [ $$i -lt $$n ]; do printf '\tom_upgrade_sql_%d,\n' $$i; i=$$((i + 1)); done; \
	  printf '\t0,\n};\n'; } >> $@.tmp && mv $@.tmp $@

$(B)/format/%_sql.o: $(B)/format/%_sql.c $(B)/flags
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $(LIB_OBJ)

$(B)/tools/%.o: tools/%.c tools/*.h format/*.h $(B)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

om-%: $(B)/tools/om-%.o $(TOOL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(SCRIPTS): %: tools/%.sh Makefile
	sed 's/@VERSION@/$(VERSION)/' tools/$@.sh >$@.tmp && chmod 755 $@.tmp && mv $@.tmp $@

$(B)/tests/%: tests/unit/%.c tests/unit/t.h $(LIB) $(B)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

tests: $(UNIT) bench/om-gen $(FUZZ:%=$(B)/fuzz/replay-%)

# A fuzz target with a plain main that replays files (fuzz/regressions/ in
# make check), with the compiler and flags of the rest: no clang needed.
$(B)/fuzz/replay-%: fuzz/fuzz_%.c fuzz/replay.c fuzz/*.h $(LIB) $(B)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< fuzz/replay.c $(LIB) $(PKG_LIBS)

# The same target as a libFuzzer program; built by make fuzz in its own
# build directory with clang and the sanitizers.
$(B)/fuzz/fuzz-%: fuzz/fuzz_%.c fuzz/*.h $(LIB) $(B)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

fuzz-targets: $(FUZZ:%=$(B)/fuzz/fuzz-%)

# Clang and libFuzzer only here, not in make check's list.
fuzz:
	@sh tests/deps.sh clang libclang-rt-14-dev
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory B=$(B)/clang CC=clang \
		SANITIZE=fuzzer-no-link,address,undefined fuzz-targets
	@sh fuzz/run.sh $(B)/clang/fuzz $(FUZZ_SECONDS) $(FUZZ)

# The one test command: set-up, build, a throwaway PostgreSQL, every test.
check:
	@sh tests/deps.sh
	@$(MAKE) --no-print-directory all tests
	@sh tests/check.sh

# The benchmarks' instance generator (bench/README.md); not part of `all`.
bench/om-gen: $(B)/bench/om-gen.o $(TOOL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# om_canon against jansson and yajl (docs/performance.md); yajl only here.
bench/canon-bench: $(B)/bench/canon-bench.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $$($(PKG_CONFIG) --libs yajl)

$(B)/bench/%.o: bench/%.c tools/*.h format/*.h $(B)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The whole pipeline on the sample instance, narrated; needs nothing else.
demo:
	@sh tests/deps.sh
	@$(MAKE) --no-print-directory all
	@sh demo/demo.sh

bench:
	@sh tests/deps.sh
	@$(MAKE) --no-print-directory all bench/om-gen
	@sh bench/run.sh

# Programs, om-snapshot, man pages, and the bash completion: one file that
# bash-completion loads by the command's name, so one link per program.
# The guides, the specification and the systemd examples go to DOCDIR.
DOCS     = README.md $(wildcard docs/*.md)
SPEC     = $(wildcard spec/*)
EXAMPLES = $(wildcard docs/examples/*)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPDIR) \
		$(DESTDIR)$(DOCDIR)/spec $(DESTDIR)$(DOCDIR)/examples
	install -m 755 $(PROGS) $(SCRIPTS) $(DESTDIR)$(BINDIR)/
	install -m 644 $(MAN) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 completion/om.bash $(DESTDIR)$(COMPDIR)/om-export
	for p in $(filter-out om-export,$(PROGS) $(SCRIPTS)); do \
		ln -sf om-export $(DESTDIR)$(COMPDIR)/$$p || exit 2; done
	install -m 644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 644 $(SPEC) $(DESTDIR)$(DOCDIR)/spec/
	install -m 644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/

# What install put there; the shared directories (bin, man1, ...) stay.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(PROGS) $(SCRIPTS)) \
		$(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN))) \
		$(addprefix $(DESTDIR)$(COMPDIR)/,$(PROGS) $(SCRIPTS))
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf $(B) $(PROGS) $(SCRIPTS) bench/om-gen bench/canon-bench

FORCE:
.PHONY: all check demo bench install uninstall clean tests fuzz fuzz-targets FORCE
.SECONDARY:
