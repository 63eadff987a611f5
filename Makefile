# SPDX-License-Identifier: GPL-2.0-or-later
# cvpn — plain Makefile. Targets: all, demo, test, check, integration, deps, clean.
# SANITIZE=1 builds into build-san/ with AddressSanitizer and UBSan; SANITIZE=thread into build-tsan/ with
# ThreadSanitizer.

CC      ?= cc
PKGS    := libnl-route-3.0 libnftnl libmnl yaml-0.1 wolfssl libcrypto json-c ldap
SANITIZE ?= 0

ifeq ($(SANITIZE),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1 -g
else ifeq ($(SANITIZE),thread)
# the data workers, handshake threads and authentication workers under ThreadSanitizer:
# make integration SANITIZE=thread (test/lib/netns.sh fails a test whose logs hold a report)
BUILD   := build-tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
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

.PHONY: all deps demo test check integration dco-test bench-dco clean install
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

# The load generator (test/loadgen/): N client sessions from one process, built on the same protocol code.
LOADGEN_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard test/loadgen/*.c))
.PHONY: loadgen
loadgen: $(BUILD)/loadgen
$(BUILD)/loadgen: $(LOADGEN_OBJS) $(BUILD)/libcvpn.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The flood tool of the hostile-input tests (test/flood/): spoofed resets, garbage, half-open sessions, replay.
$(BUILD)/flood: $(BUILD)/obj/test/flood/flood.o $(BUILD)/libcvpn.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# What the kernel's OpenVPN module says when it refuses (kernel_dco.sh, in the virtual machines).
$(BUILD)/dco_probe: $(BUILD)/obj/test/dco/dco_probe.o $(BUILD)/libcvpn.a
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
# SANITIZE=1 runs the suite against build-san/: a sanitizer report stops the process (halt_on_error), leaks
# are reported at a clean exit, and test/lib/netns.sh fails any test whose logs hold a report.
ifeq ($(SANITIZE),1)
INTEGRATION_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
endif
# The whole suite runs with two data workers and two handshake threads, then the tests of the data path again
# with one worker and the handshakes on the control thread (the whole suite so: make integration
# WORKERS1_TESTS=).
WORKERS1_TESTS ?= test_two_clients.sh test_offload.sh test_renegotiate.sh test_keepalive.sh test_replay.sh \
	test_antispoof.sh test_tcp_split.sh test_udp_split.sh test_ciphers.sh test_loadgen.sh test_ctl.sh \
	test_full_tunnel.sh
integration: deps all $(BUILD)/loadgen $(BUILD)/flood
	@CVPN_BUILD=$(BUILD) CV_WORKERS=2 CV_HS_THREADS=2 $(INTEGRATION_ENV) test/integration/run-all.sh
	@echo "== again with one data worker, handshakes on the control thread: $(or $(WORKERS1_TESTS),every test)"
	@CVPN_BUILD=$(BUILD) CV_WORKERS=1 CV_HS_THREADS=0 $(INTEGRATION_ENV) test/integration/run-all.sh \
		$(WORKERS1_TESTS)

# data-channel: kernel needs a kernel with an OpenVPN data channel module, which this host's kernel may not
# have: these run inside virtual machines (test/dco/vm.sh), one per module cvpnd speaks, with stock clients on
# their userspace data path: Debian 12's kernel with ovpn-dco-v2 (every test below), and trixie-backports'
# kernel with Linux's own ovpn (the tests of what differs between the two netlink dialects: peers, every
# cipher's keys, their swap, keepalive and expiry, counters, the guard, the inner source check, the peer's
# local address: kernel_dco.sh's gateway on "::" sends ovpn the same LOCAL_IPV4 a gateway on 0.0.0.0 would,
# while ovpn-dco-v2's LOCAL_IP differs for the two, hence test_multihome.sh there).
DCO_TESTS ?= kernel_dco.sh test_two_clients.sh test_renegotiate.sh test_keepalive.sh test_ciphers.sh \
	test_antispoof.sh test_ctl.sh test_replay.sh test_multihome.sh
OVPN_TESTS ?= kernel_dco.sh test_renegotiate.sh test_keepalive.sh test_ciphers.sh test_antispoof.sh \
	test_replay.sh
DCO_TEST_ENV = CVPN_BUILD=$(BUILD) CV_DATA_CHANNEL=kernel CV_CLIENT_OPTS=--disable-dco CV_WORKERS=1 \
	CV_HS_THREADS=0 CVPN_TEST_TIMEOUT=300
dco-test: deps all $(BUILD)/dco_probe
	@echo "== data-channel: kernel, in a virtual machine with ovpn-dco-v2 (Debian 12's kernel): $(DCO_TESTS)"
	@CVPN_VM_KERNEL=dco-v2 test/dco/vm.sh env $(DCO_TEST_ENV) test/integration/run-all.sh $(DCO_TESTS)
	@echo "== data-channel: kernel, in a virtual machine with ovpn (Linux's own, trixie-backports' kernel):" \
		"$(OVPN_TESTS)"
	@CVPN_VM_KERNEL=ovpn test/dco/vm.sh env $(DCO_TEST_ENV) test/integration/run-all.sh $(OVPN_TESTS)

test: deps
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory dco-test

# Benchmarks (not tests): figures printed and merged into bench-results.json; see README "Performance".
$(BUILD)/bench_policy: $(BUILD)/obj/test/bench/bench_policy.o $(BUILD)/libcvpn.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: bench
bench: deps all $(BUILD)/loadgen $(BUILD)/bench_policy
	@scripts/install-deps.sh bench
	@test/bench/run-all.sh

# The tunnel benchmark with both gateways' data channel in the kernel, inside test/dco/vm.sh's machine (under
# emulation when the host cannot run it with KVM: compare the columns, not the absolute figures). The machine
# is Debian 12's kernel with ovpn-dco-v2, the module OpenVPN 2.6's own data channel offload speaks too.
bench-dco: deps all
	@scripts/install-deps.sh bench
	@CVPN_VM_KERNEL=dco-v2 test/dco/vm.sh env CVPN_BUILD=$(BUILD) BENCH_DATA_CHANNEL=kernel CV_CLIENT_OPTS=--disable-dco \
		test/bench/tunnel.sh

demo: deps all
	@examples/demo.sh

# Fuzzing: libFuzzer harnesses in test/fuzz/, built with clang into build-fuzz/ (each links only the sources
# of the module it fuzzes) and run FUZZ_SECONDS each, e.g. `make fuzz FUZZ_SECONDS=3600`. Not part of test.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_BUILD   := build-fuzz
FUZZ_TARGETS := packet reliable keymethod config aead scrv1 mgmt ctrlmsg offload worker tls13rec
# clang, unlike gcc, flags vsnprintf(fmt) in helpers without a format attribute (config.c's error printer).
FUZZ_CFLAGS  := -std=gnu11 -g -O1 $(WARN) -Wno-format-nonliteral -fno-omit-frame-pointer \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Iinclude -Itest/fuzz $(shell pkg-config --cflags yaml-0.1 libcrypto 2>/dev/null)
fuzz_srcs_packet    := ctrl/proto/packet.c
fuzz_srcs_reliable  := ctrl/proto/reliable.c
fuzz_srcs_keymethod := ctrl/proto/keymethod.c
fuzz_srcs_config    := ctrl/config.c ctrl/config_parse.c ctrl/config_validate.c ctrl/config_value.c \
		       ctrl/config_auth.c
fuzz_srcs_aead      := dataplane/aead.c dataplane/replay.c
fuzz_srcs_scrv1     := ctrl/auth/scrv1.c
fuzz_srcs_mgmt      := ctrl/mgmt_request.c
fuzz_srcs_ctrlmsg   := ctrl/proto/ctrlmsg.c
fuzz_srcs_offload   := dataplane/offload.c
fuzz_srcs_worker    := dataplane/worker.c dataplane/ring.c dataplane/aead.c dataplane/replay.c dataplane/tuntx.c \
		       dataplane/offload.c dataplane/udptx.c dataplane/udp_local.c ctrl/proto/packet.c
fuzz_libs_config    := $(shell pkg-config --libs yaml-0.1 2>/dev/null)
fuzz_libs_aead      := $(shell pkg-config --libs libcrypto 2>/dev/null)
fuzz_libs_mgmt      := $(shell pkg-config --libs json-c 2>/dev/null)
fuzz_libs_worker    := $(shell pkg-config --libs libcrypto 2>/dev/null) -lpthread
fuzz_srcs_tls13rec  := ctrl/proto/tls13rec.c
fuzz_libs_tls13rec  := $(shell pkg-config --libs libcrypto 2>/dev/null)

define FUZZ_RULE
$(FUZZ_BUILD)/fuzz_$(1): test/fuzz/fuzz_$(1).c test/fuzz/fuzz.h $(fuzz_srcs_$(1)) $(wildcard include/cvpn/*.h ctrl/*.h)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $$@ test/fuzz/fuzz_$(1).c $(fuzz_srcs_$(1)) $(fuzz_libs_$(1))
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_RULE,$(t))))

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

fuzz:
	@scripts/install-deps.sh fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@test/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# make install [DESTDIR=/staging] [PREFIX=/usr/local]: cvpnd to sbin, cvpnctl to bin, the systemd unit (with
# the installed cvpnd's path) to /lib/systemd/system, the docs and example configs to share/doc/cvpn.
PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin
DOCDIR  ?= $(PREFIX)/share/doc/cvpn
UNITDIR ?= /lib/systemd/system

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/cvpnd $(DESTDIR)$(SBINDIR)/cvpnd
	install -m 0755 $(BUILD)/cvpnctl $(DESTDIR)$(BINDIR)/cvpnctl
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' examples/cvpnd.service >$(DESTDIR)$(UNITDIR)/cvpnd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/cvpnd.service
	install -m 0644 README.md examples/endpoint.yaml examples/endpoint-reference.yaml $(DESTDIR)$(DOCDIR)/

clean:
	rm -rf build build-san build-tsan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
