# SPDX-License-Identifier: GPL-2.0-or-later
# cvpn — plain Makefile. Targets: all, demo, test, check, integration, deps, clean.
# SANITIZE=1 builds into build-san/ with AddressSanitizer and UBSan.

CC      ?= cc
PKGS    := libnl-route-3.0 libnftnl libmnl yaml-0.1 wolfssl libcrypto json-c
SANITIZE ?= 0

ifeq ($(SANITIZE),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1 -g
else
BUILD   := build
SANFLAGS :=
OPT     := -O2 -g
endif

WARN    := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes -Wno-unused-parameter
HARDEN  := -fstack-protector-strong -D_FORTIFY_SOURCE=2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  += -std=gnu11 $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) -MMD -MP -Iinclude $(PKG_CFLAGS)
LDFLAGS += $(SANFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread

MAINS     := ctrl/cvpnd.c ctrl/cvpnctl.c
LIB_SRCS  := $(filter-out $(MAINS),$(wildcard ctrl/*.c ctrl/*/*.c dataplane/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:test/unit/%.c=$(BUILD)/test/%)

.PHONY: all deps demo test check integration clean install
all: $(BUILD)/cvpnd $(BUILD)/cvpnctl

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libcvpn.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/cvpnd: $(BUILD)/obj/ctrl/cvpnd.o $(BUILD)/libcvpn.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/cvpnctl: $(BUILD)/obj/ctrl/cvpnctl.o $(BUILD)/libcvpn.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test/%: $(BUILD)/obj/test/unit/%.o $(BUILD)/libcvpn.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs check)

# Installs the Debian packages the build, the tests and the demo need (idempotent, quiet when all present).
deps:
	@scripts/install-deps.sh

# Unit tests (Check), always under ASan/UBSan.
check: deps
	@$(MAKE) --no-print-directory SANITIZE=1 unit-run

.PHONY: unit-run
unit-run: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; CK_FORK=yes $$t; done

# Integration tests: network namespaces, the real daemon, the stock openvpn client.
integration: deps all
	@test/integration/run-all.sh

test: deps
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory integration

# Benchmarks (not tests): figures printed and merged into bench-results.json; see README "Performance".
.PHONY: bench
bench: deps all
	@scripts/install-deps.sh bench
	@test/bench/run-all.sh

demo: deps all
	@examples/demo.sh

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
