# om - one plain Makefile: libom (format/), the programs (tools/), the tests.
#
#   make                      build libom and the programs
#   make check                install what is missing, build, run every test
#   make SANITIZE=address,undefined check
#   make fuzz                 the libFuzzer targets of fuzz/ (clang), FUZZ_SECONDS each
#   make bench                the benchmarks (docs/performance.md)
#   make demo                 the whole pipeline on the sample instance (demo/demo.sh)
#   make install PREFIX=/usr/local DESTDIR=

VERSION    = 0.1.0
PREFIX    ?= /usr/local
BINDIR     = $(PREFIX)/bin
MANDIR     = $(PREFIX)/share/man
COMPDIR    = $(PREFIX)/share/bash-completion/completions
CC        ?= cc
CFLAGS    ?= -O2 -g
PKGS       = libarchive libsodium libzstd libpq jansson nettle

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wformat=2 -Wno-format-nonliteral -Wvla -Wpointer-arith
ALL_CFLAGS = -std=c17 -D_POSIX_C_SOURCE=200809L -DOM_VERSION='"$(VERSION)"' \
	     $(WARN) $(CFLAGS) $(PKG_CFLAGS) -pthread
PKG_LIBS  += -pthread
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

B = build

LIB_SRC  = $(wildcard format/*.c)
LIB_OBJ  = $(LIB_SRC:format/%.c=$(B)/format/%.o) $(B)/format/store_sql.o
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
	@mkdir -p $(B)
	@echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' > $@

$(B)/format/%.o: format/%.c format/*.h $(B)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# spec/store.sql, built into libom so that om-store init needs no data files.
$(B)/format/store_sql.c: spec/store.sql tests/embed.sh
	@mkdir -p $(@D)
	sh tests/embed.sh om_store_sql < spec/store.sql > $@

$(B)/format/store_sql.o: $(B)/format/store_sql.c $(B)/flags
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
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(shell pkg-config --libs yajl)

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
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPDIR)
	install -m 755 $(PROGS) $(SCRIPTS) $(DESTDIR)$(BINDIR)/
	$(if $(MAN),install -m 644 $(MAN) $(DESTDIR)$(MANDIR)/man1/)
	install -m 644 completion/om.bash $(DESTDIR)$(COMPDIR)/om-export
	for p in $(filter-out om-export,$(PROGS) $(SCRIPTS)); do \
		ln -sf om-export $(DESTDIR)$(COMPDIR)/$$p || exit 2; done

clean:
	rm -rf $(B) $(PROGS) $(SCRIPTS) bench/om-gen bench/canon-bench

FORCE:
.PHONY: all check demo bench install clean tests fuzz fuzz-targets FORCE
.SECONDARY:
