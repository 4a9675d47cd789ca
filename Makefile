# airlock build. Plain GNU make: every source file is found by wildcard, so
# adding a file under src/<module>/ or tests/<module>/ needs no edit here.
#
#   make            release build: build/release/airlock
#   make run        install dependencies, build, run `airlock serve`
#   make test       install dependencies, build, run the test suite
#   make check      the test suite, plain and under ASan + UBSan
#   make bench      benchmarks (figures, not pass/fail)
#   make fuzz       libFuzzer targets, each for FUZZ_SECONDS
#   make dist       offline bundle
#
# Variants: BUILD=release (default) | asan | debug.

BUILD ?= release
O := build/$(BUILD)
CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif

PKGS := gnutls nettle hogweed sqlite3 yaml-0.1 jansson libmicrohttpd \
	libpcre2-8 tree-sitter libseccomp libdivsufsort
PKGS += zlib
PKGS += libdeflate
HAVE_HS := $(shell pkg-config --exists libhs 2>/dev/null && echo 1)
ifeq ($(HAVE_HS),1)
PKGS += libhs
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE -pthread -fPIC $(WARN) -Isrc \
	-DAIRLOCK_VERSION='"$(VERSION)"' -DAIRLOCK_GIT_REV='"$(GIT_REV)"'
ifeq ($(HAVE_HS),1)
BASE_CFLAGS += -DAIRLOCK_HAVE_HYPERSCAN=1
endif

ifeq ($(BUILD),asan)
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
LDOPT := -fsanitize=address,undefined
else ifeq ($(BUILD),fuzz)
OPT :=
LDOPT :=
else ifeq ($(BUILD),debug)
OPT := -O0 -g
LDOPT :=
else
OPT := -O2 -g
LDOPT :=
endif

CFLAGS_ALL = $(BASE_CFLAGS) $(OPT) $(PKG_CFLAGS) \
	-DAIRLOCK_BUILD_FLAGS='"$(BUILD): $(OPT)"' $(CFLAGS)
LDLIBS_ALL = $(LDOPT) $(PKG_LIBS) -lm -pthread $(LDFLAGS) $(LDLIBS)

# Library: every module but the CLI.
LIB_SRC := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(O)/%.o)

# Tree-sitter grammars from the npm registry (scripts/deps.sh installs them).
GRAMMAR_DIR := .deps/grammars/node_modules
GRAMMAR_SRC := $(wildcard $(GRAMMAR_DIR)/tree-sitter-*/src/parser.c \
	$(GRAMMAR_DIR)/tree-sitter-*/src/scanner.c \
	$(GRAMMAR_DIR)/tree-sitter-typescript/*/src/parser.c \
	$(GRAMMAR_DIR)/tree-sitter-typescript/*/src/scanner.c)
GRAMMAR_OBJ := $(GRAMMAR_SRC:$(GRAMMAR_DIR)/%.c=build/grammars/%.o)

LIB := $(O)/libairlock.a
BIN := $(O)/airlock

# Tests: one binary per folder tests/<module>/ (e2e and harness excepted),
# each linked with tests/harness/*.c.
TEST_DIRS := $(filter-out e2e harness data,$(notdir $(wildcard tests/*)))
TEST_DIRS := $(foreach d,$(TEST_DIRS),$(if $(wildcard tests/$(d)/*.c),$(d)))
HARNESS_SRC := $(wildcard tests/harness/*.c)
HARNESS_OBJ := $(HARNESS_SRC:%.c=$(O)/%.o)
TEST_BINS := $(TEST_DIRS:%=$(O)/tests/test_%)

# Keep test objects (make would delete them as intermediates).
.SECONDARY:

Q := $(if $(V),,@)

.PHONY: all deps run test check test-asan bench fuzz dist clean help print-libs tests
all: $(BIN)

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@scripts/deps.sh

$(O)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) $(EXTRA_CFLAGS) -MMD -MP -c $< -o $@

$(O)/tests/%.o: EXTRA_CFLAGS := -Itests/harness
$(O)/fuzz/%.o: EXTRA_CFLAGS := -Itests/harness

build/grammars/%.o: $(GRAMMAR_DIR)/%.c
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $< (grammar)")
	$(Q)$(CC) -std=gnu11 -O2 -g -fPIC -w -I$(dir $<) -c $< -o $@

$(LIB): $(LIB_OBJ) $(GRAMMAR_OBJ)
	@rm -f $@
	@$(if $(V),,echo "  AR      $@")
	$(Q)ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS_ALL)

.SECONDEXPANSION:
# (No % inside the secondary expansion: make would substitute the stem.)
$(O)/tests/test_%: $(LIB) $(HARNESS_OBJ) $$(addprefix $(O)/,$$(addsuffix .o,$$(basename $$(wildcard tests/$$*/*.c))))
	@mkdir -p $(@D)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) -o $@ $(filter %.o,$^) $(LIB) $(LDLIBS_ALL) -lcmocka

tests: $(BIN) $(TEST_BINS)

run: deps
	@$(MAKE) --no-print-directory all
	./$(BIN) serve

test: deps
	@$(MAKE) --no-print-directory tests
	@tests/run.sh $(O)

test-asan: deps
	@$(MAKE) --no-print-directory BUILD=asan tests
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		tests/run.sh build/asan

# The README's test command: the suite plain, then under ASan + UBSan.
check: deps
	@$(MAKE) --no-print-directory tests
	@$(MAKE) --no-print-directory BUILD=asan tests
	@tests/run.sh build/release build/asan

bench: deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh $(O)

FUZZ_SECONDS ?= 60
fuzz: deps
	@fuzz/run.sh $(FUZZ_SECONDS)

dist: deps
	@$(MAKE) --no-print-directory all
	@scripts/dist.sh $(O)

# For fuzz/run.sh: the libraries to link with.
print-libs:
	@echo $(PKG_LIBS)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(HARNESS_OBJ:.o=.d)
-include $(foreach d,$(TEST_DIRS),$(patsubst %.c,$(O)/%.d,$(wildcard tests/$(d)/*.c)))
