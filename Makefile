# One GNU Makefile for the three roles, the shared library and the tests.
# `make` builds build/{register,gateway,business}; `make test` runs every test;
# `make test-asan` runs the same suite under ASan + UBSan in build-asan/.

BUILD    ?= build
CC       ?= cc
PKGS     := libwebsockets msgpack jansson inih libcrypto
CPPFLAGS += -Ishared -Itests/support -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS   ?= -O2 -g
# Always applied, also when CFLAGS is given on the command line (test-asan).
BASE_CFLAGS := -std=c11 -Wall -Wextra -Wstrict-prototypes -Wshadow -MMD -MP
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm
TEST_LDLIBS := $(LDLIBS) $(shell pkg-config --libs cunit libssl 2>/dev/null)

# Debian 12 packages the build, the tests and `make run` need.
DEB_PKGS := build-essential pkg-config libwebsockets-dev libmsgpack-dev \
            libsqlite3-dev libcunit1-dev libjansson-dev libinih-dev libssl-dev \
            uthash-dev libev-dev libwebsockets-evlib-ev openssl libpq-dev

SHARED_SRC := $(wildcard shared/*.c)
SHARED_OBJ := $(SHARED_SRC:%.c=$(BUILD)/obj/%.o)
SHARED_LIB := $(BUILD)/libgwshared.a

ROLES := register gateway business
ROLE_BINS := $(ROLES:%=$(BUILD)/%)

SUPPORT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/support/*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
INTEG_BINS := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(wildcard tests/integration/test_*.c))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

FIXTURES ?= $(abspath ../shared/fixtures/gateway-protocol)

.PHONY: all deps test-deps test test-asan run clean
all: $(ROLE_BINS)

# A no-op when every package is present; apt-get only when one is missing.
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

$(SHARED_LIB): $(SHARED_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# Each role is a static library, $(BUILD)/lib<role>.a (every .c in its folder
# but main.c), that the binary and the unit tests link. The binary takes the
# whole archive: the business worker exports the gw_* API to apps it dlopens
# (-rdynamic), and nothing in the binary itself calls some of those functions.
ROLE_LIBS := $(ROLES:%=$(BUILD)/lib%.a)
define ROLE_template
$(BUILD)/lib$(1).a: $$(patsubst %.c,$(BUILD)/obj/%.o,$$(filter-out $(1)/main.c,$$(wildcard $(1)/*.c)))
	@rm -f $$@
	$$(AR) rcs $$@ $$^
$(BUILD)/$(1): $(BUILD)/obj/$(1)/main.o $(BUILD)/lib$(1).a $(SHARED_LIB)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $(BUILD)/obj/$(1)/main.o -Wl,--whole-archive $(BUILD)/lib$(1).a -Wl,--no-whole-archive $(SHARED_LIB) $$(LDLIBS)
endef
$(foreach r,$(ROLES),$(eval $(call ROLE_template,$(r))))

# Tests link the role libraries (only the objects a test uses are pulled in)
# before the shared one.
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(SUPPORT_OBJ) $(ROLE_LIBS) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(TEST_LDLIBS)
$(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(SUPPORT_OBJ) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(TEST_LDLIBS)

# ---- business worker applications (issue 4) ----
# Each apps/<name>/*.c becomes $(BUILD)/apps/<name>.so; the business binary
# loads it with dlopen and exports the gw_* API to it (-rdynamic).
APP_SOS := $(patsubst apps/%/,$(BUILD)/apps/%.so,$(sort $(dir $(wildcard apps/*/*.c))))
all: $(APP_SOS)
$(BUILD)/business: LDLIBS += -ldl -rdynamic
.SECONDEXPANSION:
$(BUILD)/apps/%.so: $$(wildcard apps/%/*.c) $$(wildcard apps/%/*.h) business/gw_api.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ibusiness $(BASE_CFLAGS) $(CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $(filter %.c,$^) $(shell pkg-config --libs jansson msgpack 2>/dev/null) $(APP_LIBS_$*)
# Libraries an application links beyond jansson and msgpack-c.
APP_LIBS_lottery = $(shell pkg-config --cflags --libs sqlite3 libcrypto libpq 2>/dev/null)

# Packages only the tests need: PostgreSQL (the store's second backend; the
# tests start a throwaway server of their own, tests/support/pgtmp.sh).
TEST_DEB_PKGS := postgresql
test-deps:
	@missing=$$(for p in $(TEST_DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make test-deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test: deps test-deps
	@test -f $(FIXTURES)/index.json || { echo "golden vectors not found in $(FIXTURES); set FIXTURES=/path/to/shared/fixtures/gateway-protocol"; exit 1; }
	$(MAKE) --no-print-directory all $(UNIT_BINS) $(INTEG_BINS)
	GW_FIXTURES=$(FIXTURES) GW_BIN=$(abspath $(BUILD)) tests/run-all.sh $(UNIT_BINS) $(INTEG_BINS)
	$(MAKE) --no-print-directory test-conformance
	$(MAKE) --no-print-directory test-browser
	$(MAKE) --no-print-directory test-deploy
	$(MAKE) --no-print-directory test-topology

test-asan: deps test-deps
	$(MAKE) --no-print-directory BUILD=build-asan \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" test

# ---- `make fuzz` (issue 10): libFuzzer harnesses (clang), tests/fuzz/fuzz_<target>.c ----
# Each target links the shared library built again with clang's sanitizer
# coverage ($(BUILD)/fuzz/obj), plus the role files it decodes with
# (FUZZ_EXTRA_<target>, compiled into it; never a main.c). tests/fuzz/seeds.sh seeds
# $(BUILD)/fuzz/corpus/<target>/ from the golden vectors; tests/fuzz/run.sh
# runs every target for FUZZ_SECONDS, two at a time, and reports executions
# and coverage. A crash, leak or UB fails the run (input kept in
# $(BUILD)/fuzz/artifacts/<target>/).
FUZZ_SECONDS ?= 20
FUZZ_CC ?= clang
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_BINS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_SHARED_OBJ := $(SHARED_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_EXTRA_wsconnect := gateway/wsconnect.c gateway/phpurl.c
FUZZ_EXTRA_business := business/events.c business/api.c business/api_push.c business/api_session.c \
                       business/api_query.c business/query.c
FUZZ_EXTRA_lottery := apps/lottery/proto.c apps/lottery/req.c
FUZZ_EXTRA_wstrack := gateway/wstrack.c
FUZZ_INC_wsconnect := -Igateway
FUZZ_INC_business := -Ibusiness
FUZZ_INC_lottery := -Iapps/lottery -Ibusiness
FUZZ_INC_wstrack := -Igateway
.PHONY: fuzz fuzz-build fuzz-deps
fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { echo "make fuzz-deps: installing clang"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang; }
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
# shared/version.c includes the generated version header.
$(BUILD)/fuzz/obj/shared/version.o: $(BUILD)/gen/gw_version.h
$(BUILD)/fuzz/obj/shared/version.o: CPPFLAGS += -I$(BUILD)/gen
$(BUILD)/fuzz/libgwshared.a: $(FUZZ_SHARED_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_EXTRA_$$*) $(BUILD)/fuzz/libgwshared.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_INC_$*) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS) \
	  $(shell pkg-config --libs jansson 2>/dev/null) $(FUZZ_LIBS_$*)
# wsconnect_lws: the handshake body from lws' parsed values (wsconnect_body_parsed).
# lottery_app: the lottery's real handlers and sqlite store behind the real
# business events/API (tests/fuzz/fuzz_lottery_app.c); every apps/lottery file
# but the command line (a template store is copied per input, in /dev/shm).
FUZZ_EXTRA_wsconnect_lws := gateway/wsconnect.c gateway/phpurl.c
FUZZ_INC_wsconnect_lws := -Igateway
FUZZ_EXTRA_lottery_app := business/events.c business/api.c business/api_push.c business/api_session.c \
                          business/api_query.c business/query.c $(wildcard apps/lottery/*.c)
FUZZ_INC_lottery_app := -Ibusiness -Iapps/lottery $(shell pkg-config --cflags libpq 2>/dev/null)
FUZZ_LIBS_lottery_app = $(shell pkg-config --libs sqlite3 libcrypto libpq 2>/dev/null)
fuzz-build: deps fuzz-deps
	$(MAKE) --no-print-directory $(FUZZ_BINS)
fuzz: fuzz-build
	tests/fuzz/seeds.sh $(BUILD) $(FIXTURES)
	tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# ---- `make test-valgrind` (issue 10): every unit test binary under valgrind memcheck ----
# Zero errors and zero definite/indirect leaks, or it fails (tests/valgrind/run.sh;
# tests/valgrind/gw.supp: third-party internals only).
.PHONY: test-valgrind
test-valgrind: deps test-deps
	@command -v valgrind >/dev/null 2>&1 || { echo "make test-valgrind: installing valgrind"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; }
	$(MAKE) --no-print-directory $(UNIT_BINS)
	GW_FIXTURES=$(FIXTURES) GW_BIN=$(abspath $(BUILD)) tests/valgrind/run.sh $(UNIT_BINS)

# ---- `make test-stress` (issue 10): the integration tests STRESS_RUNS times in a row ----
# under a CPU hog on every core (tests/stress.sh); every failure is a flaky
# test. Long (about STRESS_RUNS x the integration suite): not part of `make test` or CI.
STRESS_RUNS ?= 20
.PHONY: test-stress
test-stress: deps test-deps
	$(MAKE) --no-print-directory all $(INTEG_BINS)
	GW_FIXTURES=$(FIXTURES) GW_BIN=$(abspath $(BUILD)) tests/stress.sh $(BUILD) $(STRESS_RUNS) $(INTEG_BINS)

run: deps all lottery-vendor
	deploy/run-local.sh $(abspath $(BUILD))

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -path $(BUILD)/deb -prune -o -name '*.d' -type f -print 2>/dev/null)

# ---- `make bench` (issue 5): the load generator and the scenarios; never part of `make test` ----
BENCH_DEB_PKGS := gnuplot-nox jq iproute2 liburing-dev
.PHONY: bench bench-deps
bench-deps:
	@missing=$$(for p in $(BENCH_DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make bench-deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

BENCH_CFLAGS := -std=c11 -Wall -Wextra -Wstrict-prototypes -Wshadow
$(BUILD)/bench/wsload: tests/bench/wsload.c
	@mkdir -p $(dir $@)
	$(CC) -D_GNU_SOURCE $(BENCH_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -lssl -lcrypto

# The write() floor of a broadcast delivery (tests/bench/floor.c), with an
# io_uring variant when liburing is there.
FLOOR_URING := $(shell pkg-config --exists liburing 2>/dev/null && echo "-DHAVE_LIBURING $$(pkg-config --cflags --libs liburing)")
$(BUILD)/bench/floor: tests/bench/floor.c
	@mkdir -p $(dir $@)
	$(CC) -D_GNU_SOURCE $(BENCH_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FLOOR_URING)

# register + gateway + wsload are required; the rest (business, apps) is built if it builds,
# and the scenarios that need it are skipped when it is missing.
bench: deps bench-deps
	$(MAKE) --no-print-directory $(BUILD)/register $(BUILD)/gateway $(BUILD)/bench/wsload $(BUILD)/bench/floor
	-$(MAKE) --no-print-directory all
	tests/bench/run.sh $(BUILD)

# ---- `make bench-vs-php` (issue 11): the plain ws scenarios of `make bench` against the real
# PHP GatewayWorker (../shared/interop-php/ref.sh, GW_REF), ours and PHP alternating in the
# same run; run.sh says so and exits 0 when the PHP reference is not on this machine.
.PHONY: bench-vs-php
bench-vs-php: deps bench-deps
	$(MAKE) --no-print-directory $(BUILD)/register $(BUILD)/gateway $(BUILD)/business $(BUILD)/apps/echo.so $(BUILD)/bench/wsload
	BENCH_VS_PHP=1 tests/bench/run.sh $(BUILD)

# ---- `make test-browser` (issue 4): the chat page (apps/chat/www) in a real headless
# Chromium against the real register, gateway and business; the last step of `make test`.
# Debian's chromium (no browser download), playwright-core pinned in tests/browser.
.PHONY: test-browser
test-browser: deps
	@missing=$$([ -x "$${CHROMIUM:-/usr/bin/chromium}" ] || echo chromium; command -v node >/dev/null 2>&1 || echo nodejs; command -v npm >/dev/null 2>&1 || echo npm; dpkg-query -W -f='$${Status}\n' fonts-wqy-zenhei 2>/dev/null | grep -q '^install ok installed' || echo fonts-wqy-zenhei); \
	if [ -n "$$missing" ]; then \
	  echo "make test-browser: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	$(MAKE) --no-print-directory all
	@[ -d tests/browser/node_modules/playwright-core ] || (cd tests/browser && npm ci --no-audit --no-fund)
	node tests/browser/chat.test.js $(abspath $(BUILD))
	$(MAKE) --no-print-directory lottery-vendor
	node tests/browser/lottery.test.js $(abspath $(BUILD))

# ---- the C GatewayClient and gwctl (issue 4) ----
# libgwclient.a is the business worker's API code (api*.c, query.c)
# over business/gwclient/gwclient.c, which stands in for links.c/events.c
# (connection-per-call transport, gateway list from the register); gwctl is
# its command line. business/gwclient/ is a subfolder so the business role's
# $(wildcard business/*.c) never links these files.
GWCLIENT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,business/api.c business/api_push.c business/api_session.c business/api_query.c business/query.c business/gwclient/gwclient.c)
$(BUILD)/obj/business/gwclient/%.o: CPPFLAGS += -Ibusiness
$(BUILD)/libgwclient.a: $(GWCLIENT_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^
$(BUILD)/gwctl: $(BUILD)/obj/business/gwclient/gwctl.o $(BUILD)/libgwclient.a $(SHARED_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
all: $(BUILD)/gwctl

# ---- lottery pages (issue 8) ----
# SheetJS (the admin page's .xlsx import) from npm, pinned in apps/lottery/package.json,
# copied to apps/lottery/www/vendor/ where the gateway's webRoot serves it.
.PHONY: lottery-vendor
lottery-vendor: apps/lottery/www/vendor/xlsx.full.min.js
apps/lottery/www/vendor/xlsx.full.min.js: apps/lottery/package.json apps/lottery/package-lock.json
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }
	cd apps/lottery && npm ci --no-audit --no-fund
	@mkdir -p $(dir $@)
	cp apps/lottery/node_modules/xlsx/dist/xlsx.full.min.js $@

# ---- lottery core (issue 8) ----
# draw.c (the verifiable draw), audit.c (hash chain + verifier) and store.c
# (sqlite) are also compiled into $(BUILD)/apps/lottery.so by the app rule
# above; here they are plain objects for lotteryctl and the unit tests.
LOTTERY_CORE_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,apps/lottery/draw.c apps/lottery/audit.c apps/lottery/store.c \
                      apps/lottery/db.c apps/lottery/db_sqlite.c apps/lottery/db_pg.c)
LOTTERY_LIBS = $(shell pkg-config --libs jansson sqlite3 libcrypto libpq 2>/dev/null)
$(BUILD)/obj/apps/lottery/%.o: CPPFLAGS += -Iapps/lottery $(shell pkg-config --cflags libpq 2>/dev/null)
$(BUILD)/obj/tests/unit/test_lottery_%.o: CPPFLAGS += -Iapps/lottery $(shell pkg-config --cflags libpq 2>/dev/null)
$(BUILD)/lotteryctl: $(BUILD)/obj/apps/lottery/ctl/lotteryctl.o $(LOTTERY_CORE_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LOTTERY_LIBS)
all: $(BUILD)/lotteryctl
# The unit tests of the core: the generic $(BUILD)/tests/% rule links them;
# these lines add the core objects to its $^ and the libraries after it.
LOTTERY_UNIT_BINS := $(filter $(BUILD)/tests/test_lottery_%,$(UNIT_BINS))
$(LOTTERY_UNIT_BINS): $(LOTTERY_CORE_OBJ)
$(LOTTERY_UNIT_BINS): TEST_LDLIBS += $(LOTTERY_LIBS)
$(BUILD)/tests/test_lottery_proto: $(BUILD)/obj/apps/lottery/proto.o $(BUILD)/obj/apps/lottery/ratelimit.o

# ---- lottery integration tests (issue 8) ----
# test_lottery_e2e / test_lottery_kill are built by the generic integration rule
# (and run by `make test` and `make test-asan`); the kill test reads the sqlite
# store read-only. The lottery benchmark's client (`make bench`, scenario lottery).
$(BUILD)/tests/test_lottery_kill: TEST_LDLIBS += $(shell pkg-config --libs sqlite3 2>/dev/null) -lpthread
$(BUILD)/bench/lottery_signin: tests/bench/lottery_signin.c
	@mkdir -p $(dir $@)
	$(CC) -D_GNU_SOURCE $(BENCH_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs jansson 2>/dev/null) -lcrypto -lm
bench: $(BUILD)/bench/lottery_signin

# ---- deploy (issue 9) ----
# The configs of servers A, B and C (deploy/production) started for real on
# loopback through deploy/gw, with addresses, ports, pid/log files and the
# store overridden (tests/deploy/check-configs.sh); a step of `make test`.
.PHONY: test-deploy
test-deploy: deps test-deps
	$(MAKE) --no-print-directory all
	tests/deploy/check-configs.sh $(abspath $(BUILD))

# ---- topology test (issue 9) ----
# `make test-topology` (the last step of `make test`): the three-server deployment
# (deploy/production/server-{a,b,c}.ini started with deploy/gw) on one machine, each
# server a network namespace on a bridge, haproxy as the load balancer (TCP, PROXY v2,
# health checks), PostgreSQL on A, the client host's phones and admins from
# $(BUILD)/topology/topo (tests/topology/*.c). Needs root; skips only where the
# machine forbids network namespaces. tests/topology/run.sh says what it checks.
TOPO_DEB_PKGS := iproute2 haproxy postgresql curl chromium
.PHONY: test-topology topology-deps
topology-deps:
	@missing=$$(for p in $(TOPO_DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make topology-deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
$(BUILD)/topology/topo: $(wildcard tests/topology/*.c) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^) $(SHARED_LIB) $(LDLIBS) $(shell pkg-config --libs jansson libcrypto 2>/dev/null)
test-topology: deps topology-deps
	$(MAKE) --no-print-directory all $(BUILD)/topology/topo
	tests/topology/run.sh $(abspath $(BUILD))

# Unit tests name role headers by path ("gateway/state.h").
$(BUILD)/obj/tests/%.o: CPPFLAGS += -I.

# ---- fault injection (issue 10) ----
# test_faults (echo) and test_lottery_faults (test_lottery_kill.c built again
# with every role and fault kind) run in `make test` with the other
# integration tests; they need threads, the lottery one sqlite too.
$(BUILD)/tests/test_faults: TEST_LDLIBS += -lpthread
$(BUILD)/tests/test_lottery_faults: TEST_LDLIBS += $(shell pkg-config --libs sqlite3 2>/dev/null) -lpthread
$(BUILD)/obj/tests/integration/test_lottery_faults.o: tests/integration/test_lottery_kill.c tests/integration/lottery_harness.h

# ---- WebSocket conformance (issue 10) ----
# build/tests/wsconf: the Autobahn-style cases (tests/conformance/wsconf.c) on the
# wire against the real register + gateway + business (apps/echo), every case
# asserted; then the same cases against Debian's python3-websockets echo server
# (tests/conformance/echo_server.py) to prove the suite, and the two side by side
# (tests/conformance/compare.sh). `make test` runs it (so test-asan does too).
# `wsconf gateway-wss` runs every case once more against the gateway on wss://.
CONF_DEB_PKGS := python3-websockets
.PHONY: test-conformance conformance-deps
conformance-deps:
	@missing=$$(for p in $(CONF_DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make conformance-deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
$(BUILD)/tests/wsconf: $(BUILD)/obj/tests/conformance/wsconf.o $(SUPPORT_OBJ) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(TEST_LDLIBS)
test-conformance: deps conformance-deps
	$(MAKE) --no-print-directory all $(BUILD)/tests/wsconf
	GW_BIN=$(abspath $(BUILD)) $(BUILD)/tests/wsconf gateway $(BUILD)/wsconf-gateway.tsv
	GW_BIN=$(abspath $(BUILD)) $(BUILD)/tests/wsconf reference $(BUILD)/wsconf-reference.tsv
	# the same cases against the gateway over wss:// (wsguard on SSL_read/SSL_write)
	GW_BIN=$(abspath $(BUILD)) $(BUILD)/tests/wsconf gateway-wss $(BUILD)/wsconf-gateway-wss.tsv
	tests/conformance/compare.sh $(BUILD)/wsconf-gateway.tsv $(BUILD)/wsconf-reference.tsv $(BUILD)/wsconf-gateway-wss.tsv

# ---- packaging (issue 12): --version, make install, make deb, make test-package ----
# The version has one home: the first line of debian/changelog ("gatewayworker
# (1.0.0) ..."), where dpkg-buildpackage reads it too. gw_version.h adds the
# git commit when built from a checkout; it is rewritten only when it changes.
VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
# `make deb` passes the checkout's GIT_DESCRIBE into its build copy.
GIT_DESCRIBE ?= $(shell git -C $(CURDIR) describe --always --dirty 2>/dev/null)
.PHONY: FORCE
$(BUILD)/gen/gw_version.h: FORCE
	@mkdir -p $(dir $@)
	@printf '#define GW_VERSION "%s"\n#define GW_GIT "%s"\n' '$(VERSION)' '$(GIT_DESCRIBE)' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@
$(BUILD)/obj/shared/version.o: $(BUILD)/gen/gw_version.h
$(BUILD)/obj/shared/version.o: CPPFLAGS += -I$(BUILD)/gen
$(BUILD)/lotteryctl: $(BUILD)/obj/shared/version.o

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the layout the .deb uses with PREFIX=/usr.
#   $(BINDIR)          gatewayworker (deploy/gw: one command per server), gwctl, lotteryctl
#   $(PKGLIBDIR)       register, gateway, business; apps/*.so (eventHandler)
#   $(LIBDIR)          libgwclient.a (the GatewayClient with the shared code it needs), pkgconfig/gatewayworker.pc
#   $(INCLUDEDIR)/gatewayworker   gw_api.h (applications), gwclient.h (GatewayClient programs)
#   $(PKGDATADIR)      www/<app>/ (webRoot), sysctl and limits snippets (applied by hand: they are
#                      host-wide kernel settings, deploy/README.md §8)
#   $(SYSCONFDIR)      gatewayworker/server-{a,b,c}.ini, default/gatewayworker, logrotate.d/gatewayworker
#   $(SYSTEMDUNITDIR)  gatewayworker@.service (installed, never enabled here); $(TMPFILESDIR)
# Paths inside the installed configs and unit are rewritten for this layout.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
PKGLIBDIR   ?= $(PREFIX)/lib/gatewayworker
INCLUDEDIR  ?= $(PREFIX)/include
PKGDATADIR  ?= $(PREFIX)/share/gatewayworker
DOCDIR      ?= $(PREFIX)/share/doc/gatewayworker
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
RUNDIR      ?= /run/gatewayworker
LOGDIR      ?= /var/log/gatewayworker
GW_USER     ?= gatewayworker
INSTALL     ?= install

# One archive for GatewayClient programs: libgwclient.a plus libgwshared.a's objects.
$(BUILD)/pkg/libgwclient.a: $(GWCLIENT_OBJ) $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^
$(BUILD)/pkg/gatewayworker.pc: debian/changelog Makefile
	@mkdir -p $(dir $@)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	  'Name: gatewayworker' \
	  'Description: GatewayWorker-C: gw_api.h for business applications, libgwclient (GatewayClient)' \
	  'Version: $(VERSION)' 'Requires: msgpack jansson' \
	  'Cflags: -I$${includedir}/gatewayworker' 'Libs: -L$${libdir} -lgwclient -lev -lm' >$@
# apps/apitest is the API tests' application: not installed.
INSTALL_APP_SOS = $(filter-out %/apitest.so,$(APP_SOS))
# The installed copies of deploy/ files, their paths rewritten for this layout.
PKG_SED = -e 's|/opt/gw/deploy/gw|$(BINDIR)/gatewayworker|g' \
          -e 's|deploy/gw -c deploy/production/|gatewayworker -c $(SYSCONFDIR)/gatewayworker/|g' \
          -e 's|/opt/gw/deploy/production/|$(SYSCONFDIR)/gatewayworker/|g' \
          -e 's|deploy/production/\*.ini|$(SYSCONFDIR)/gatewayworker/*.ini|g' \
          -e 's|deploy/logrotate/gw\b|$(SYSCONFDIR)/logrotate.d/gatewayworker|g; s|\bdeploy/gw\b|gatewayworker|g' \
          -e 's|file:/opt/gw/deploy/README.md|file:$(DOCDIR)/deploy.md|' \
          -e 's|/etc/default/gw\b|$(SYSCONFDIR)/default/gatewayworker|g' \
          -e 's|/etc/tmpfiles.d/gw.conf|$(TMPFILESDIR)/gatewayworker.conf|g' \
          -e 's|/etc/logrotate.d/gw\b|$(SYSCONFDIR)/logrotate.d/gatewayworker|g' \
          -e 's|90-gw.conf|90-gatewayworker.conf|g; s|/etc/gw/tls/|$(SYSCONFDIR)/gatewayworker/tls/|g' \
          -e 's|/run/gw/|$(RUNDIR)/|g; s|/run/gw\b|$(RUNDIR)|g' \
          -e 's|/var/log/gw/|$(LOGDIR)/|g; s|/var/log/gw\b|$(LOGDIR)|g' \
          -e 's|^User=gw$$|User=$(GW_USER)|; s|^Group=gw$$|Group=$(GW_USER)|' \
          -e 's|^RuntimeDirectory=gw$$|RuntimeDirectory=$(notdir $(RUNDIR))|' \
          -e 's|^    su gw adm$$|    su $(GW_USER) adm|; s|^gw    |$(GW_USER) |' \
          -e 's| gw gw | $(GW_USER) $(GW_USER) |; s| gw adm | $(GW_USER) adm |' \
          -e 's|service user gw\b|service user $(GW_USER)|g; s|sudo -u gw\b|sudo -u $(GW_USER)|g' \
          -e 's|\bgw@\([a-z.]*\)|gatewayworker@\1|g' \
          -e 's|^eventHandler = ../../build/apps/|eventHandler = $(PKGLIBDIR)/apps/|' \
          -e 's|^webRoot = ../../apps/\([a-z]*\)/www|webRoot = $(PKGDATADIR)/www/\1|'
# The unit's header describes installing it from a checkout at /opt/gw: dropped.
PKG_SED_UNIT = -e '/^.   \(install\|echo\|systemctl\) /d' -e '/^. The path \/opt\/gw is/,/^. \/opt\/gw below/d'
.PHONY: install
install: all lottery-vendor $(BUILD)/pkg/libgwclient.a $(BUILD)/pkg/gatewayworker.pc
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGLIBDIR)/apps $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(INCLUDEDIR)/gatewayworker $(DESTDIR)$(PKGDATADIR)/www $(DESTDIR)$(DOCDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/gatewayworker $(DESTDIR)$(SYSCONFDIR)/default $(DESTDIR)$(SYSCONFDIR)/logrotate.d \
	  $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(TMPFILESDIR)
	$(INSTALL) -m 755 $(ROLE_BINS) $(DESTDIR)$(PKGLIBDIR)/
	$(INSTALL) -m 644 $(INSTALL_APP_SOS) $(DESTDIR)$(PKGLIBDIR)/apps/
	$(INSTALL) -m 755 $(BUILD)/gwctl $(BUILD)/lotteryctl $(DESTDIR)$(BINDIR)/
	sed -e 's|^bin=\$${GW_BIN:-\$$top/build}$$|bin=$${GW_BIN:-$(PKGLIBDIR)}|' deploy/gw >$(DESTDIR)$(BINDIR)/gatewayworker
	grep -q '^bin=$${GW_BIN:-$(PKGLIBDIR)}$$' $(DESTDIR)$(BINDIR)/gatewayworker
	chmod 755 $(DESTDIR)$(BINDIR)/gatewayworker
	$(INSTALL) -m 644 $(BUILD)/pkg/libgwclient.a $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 644 $(BUILD)/pkg/gatewayworker.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	$(INSTALL) -m 644 business/gw_api.h business/gwclient/gwclient.h $(DESTDIR)$(INCLUDEDIR)/gatewayworker/
	for d in apps/*/www; do a=$$(basename $$(dirname $$d)); rm -rf $(DESTDIR)$(PKGDATADIR)/www/$$a; \
	  cp -R $$d $(DESTDIR)$(PKGDATADIR)/www/$$a || exit 1; done
	chmod -R u=rwX,go=rX $(DESTDIR)$(PKGDATADIR)/www
	$(INSTALL) -d $(DESTDIR)$(PKGDATADIR)/sysctl $(DESTDIR)$(PKGDATADIR)/limits
	@sed $(PKG_SED) deploy/sysctl/90-gw.conf >$(DESTDIR)$(PKGDATADIR)/sysctl/90-gatewayworker.conf
	@sed $(PKG_SED) deploy/limits/90-gw.conf >$(DESTDIR)$(PKGDATADIR)/limits/90-gatewayworker.conf
	@for f in deploy/production/server-*.ini; do sed $(PKG_SED) $$f >$(DESTDIR)$(SYSCONFDIR)/gatewayworker/$$(basename $$f) || exit 1; done
	@sed $(PKG_SED) deploy/systemd/gw.default >$(DESTDIR)$(SYSCONFDIR)/default/gatewayworker
	@sed $(PKG_SED) deploy/logrotate/gw >$(DESTDIR)$(SYSCONFDIR)/logrotate.d/gatewayworker
	@sed $(PKG_SED) $(PKG_SED_UNIT) deploy/systemd/gw@.service >$(DESTDIR)$(SYSTEMDUNITDIR)/gatewayworker@.service
	@sed $(PKG_SED) deploy/systemd/gw-tmpfiles.conf >$(DESTDIR)$(TMPFILESDIR)/gatewayworker.conf
	cd $(DESTDIR)$(SYSCONFDIR) && chmod 644 gatewayworker/*.ini default/gatewayworker logrotate.d/gatewayworker
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 644 docs/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 README.md $(DESTDIR)$(DOCDIR)/README.md
	$(INSTALL) -m 644 deploy/README.md $(DESTDIR)$(DOCDIR)/deploy.md
	for f in README.zh-CN.md deploy/README.zh-CN.md; do [ ! -f $$f ] || \
	  $(INSTALL) -m 644 $$f $(DESTDIR)$(DOCDIR)/$$(echo $$f | sed 's|deploy/README|deploy|'); done

# `make deb`: build/gatewayworker_<version>_<arch>.deb with Debian's own tools:
# dpkg-buildpackage + debhelper (debian/), in a copy of this tree under
# build/deb/ (dpkg-buildpackage writes its output beside the tree it builds,
# and builds from clean). Why debhelper rather than dpkg-deb on a staged
# DESTDIR: dpkg-shlibdeps computes the runtime dependencies from the
# binaries, dh_installdeb marks /etc as conffiles, dh_installsystemd and
# dh_installtmpfiles write the maintainer-script snippets, dh_strip and the
# hardening build flags come with it, and lintian checks the result.
# The lottery's vendored SheetJS (gitignored, from npm) is fetched first
# and copied along.
DEB_TOOLS_PKGS := debhelper dpkg-dev lintian fakeroot
DEB_ARCH = $(shell dpkg --print-architecture)
DEB_FILE = $(BUILD)/gatewayworker_$(VERSION)_$(DEB_ARCH).deb
DEB_STAGE = $(BUILD)/deb
.PHONY: deb deb-deps test-package
deb-deps:
	@missing=$$(for p in $(DEB_TOOLS_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deb-deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
deb: deps deb-deps lottery-vendor
	rm -rf $(DEB_STAGE) && mkdir -p $(DEB_STAGE)/gatewayworker-$(VERSION)
	tar -cf - --exclude=./build --exclude=./build-asan --exclude=./$(BUILD) --exclude=./run --exclude=.git \
	  --exclude=node_modules . | tar -xf - -C $(DEB_STAGE)/gatewayworker-$(VERSION)
	cd $(DEB_STAGE)/gatewayworker-$(VERSION) && GIT_DESCRIBE='$(GIT_DESCRIBE)' dpkg-buildpackage -b -us -uc -j2
	mv -f $(DEB_STAGE)/gatewayworker_$(VERSION)_$(DEB_ARCH).deb $(DEB_FILE)
	@echo "== lintian $(DEB_FILE)"
	lintian --fail-on error --info $(DEB_FILE)
	@echo "make deb: $(DEB_FILE)"
# `make test-package`: the .deb installed with apt-get, the three roles started from the
# installed paths as the units' ExecStart runs them, /health, a WebSocket echo, a program
# built with pkg-config, then purged: nothing left behind (tests/package/run.sh). Root.
test-package: deb
	tests/package/run.sh $(DEB_FILE)

# ---- wss (issue 11): the gateway calls OpenSSL's SSL_CTX API itself (ticket keys, buffers) ----
$(BUILD)/gateway: LDLIBS += $(shell pkg-config --libs libssl 2>/dev/null)

# ---- the gateway's io_uring client writes (issue 11: clientWritePath=uring) ----
# gateway/sendring.c uses liburing when the build finds it (Debian: liburing-dev);
# without it the gateway still builds and clientWritePath=uring falls back to send().
DEB_PKGS += liburing-dev
GW_URING_LIBS := $(shell pkg-config --exists liburing 2>/dev/null && pkg-config --libs liburing)
ifneq ($(GW_URING_LIBS),)
$(BUILD)/obj/gateway/sendring.o: CPPFLAGS += -DHAVE_LIBURING $(shell pkg-config --cflags liburing)
$(BUILD)/gateway: LDLIBS += $(GW_URING_LIBS)
TEST_LDLIBS += $(GW_URING_LIBS)
endif
