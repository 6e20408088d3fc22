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

.PHONY: all deps test-deps test test-asan run clean fuzz
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

# Each role: every .c in its folder, linked against the shared library.
define ROLE_template
$(BUILD)/$(1): $$(patsubst %.c,$(BUILD)/obj/%.o,$$(wildcard $(1)/*.c)) $(SHARED_LIB)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach r,$(ROLES),$(eval $(call ROLE_template,$(r))))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(SUPPORT_OBJ) $(SHARED_LIB)
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
	$(MAKE) --no-print-directory test-browser
	$(MAKE) --no-print-directory test-deploy
	$(MAKE) --no-print-directory test-topology

test-asan: deps test-deps
	$(MAKE) --no-print-directory BUILD=build-asan \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" test

# libFuzzer harnesses (clang); each runs for FUZZ_SECONDS.
FUZZ_SECONDS ?= 30
fuzz:
	@mkdir -p $(BUILD)/fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  clang $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $$f $(SHARED_SRC) -o $(BUILD)/fuzz/$$n $(LDLIBS) || exit 1; \
	  echo "== $$n ($(FUZZ_SECONDS) s)"; $(BUILD)/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=4096 >/dev/null 2>$(BUILD)/fuzz/$$n.log || { tail -30 $(BUILD)/fuzz/$$n.log; exit 1; }; \
	  tail -1 $(BUILD)/fuzz/$$n.log; done

run: deps all lottery-vendor
	deploy/run-local.sh $(abspath $(BUILD))

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- `make bench` (issue 5): the load generator and the scenarios; never part of `make test` ----
BENCH_DEB_PKGS := gnuplot-nox jq iproute2
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

# register + gateway + wsload are required; the rest (business, apps) is built if it builds,
# and the scenarios that need it are skipped when it is missing.
bench: deps bench-deps
	$(MAKE) --no-print-directory $(BUILD)/register $(BUILD)/gateway $(BUILD)/bench/wsload
	-$(MAKE) --no-print-directory all
	tests/bench/run.sh $(BUILD)

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

# ---- wss (issue 11): the gateway calls OpenSSL's SSL_CTX API itself (ticket keys, buffers) ----
$(BUILD)/gateway: LDLIBS += $(shell pkg-config --libs libssl 2>/dev/null)
