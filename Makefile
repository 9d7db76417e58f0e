# spanblk top-level Makefile (plain GNU make, -MMD dependencies).
#
#   make                 build the handler, the daemon and the tools (build/)
#   make check           every test: format, layering, unit (ASan/UBSan),
#                        host, fuzz (60 s each), the guest scenarios (QEMU)
#   make check-quick     layering, unit and host tests only
#   make check-vm        the guest scenarios only (QEMU, docs/vm.md)
#   make fuzz            libFuzzer targets, FUZZ_SECONDS each (default 20)
#   make soak            the randomized fault test (tests/host/test_chaos.c,
#                        docs/recovery.md "Testing") for SOAK_SECONDS
#                        (default 1800) instead of its 100 s in make check;
#                        CHAOS_SEED=N replays the random choices of a run
#   make install         handler into TCMU_HANDLER_DIR, the rest under PREFIX
#   make demo            iSCSI LUN on a three-node cluster, in a QEMU guest
#   make demo-host       three-node cluster on 127.0.0.1 and spanblk-bench
#   make bench           the benchmark of docs/benchmarks.md (FAILOVER=1:
#                        section 5 after it, about 10 minutes more)
#   make bench-failover  section 5 alone: the cluster store's cost, a node
#                        killed or hung under writes (etcd)
#   make bench-vm        the guest benchmark of docs/benchmarks.md (QEMU,
#                        root; not part of make check)
#   make format          clang-format in place; make format-check to verify
#   make layers-check    the layering rule of docs/architecture.md

CC ?= gcc
CLANG ?= clang
PREFIX ?= /usr/local
DESTDIR ?=
TCMU_HANDLER_DIR ?= /usr/lib/x86_64-linux-gnu/tcmu-runner
LIBTCMU ?= /usr/lib/x86_64-linux-gnu/libtcmu.so.2
FUZZ_SECONDS ?= 20
SOAK_SECONDS ?= 1800

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
# libnl-3 (route): xport/link.c, the link watcher of the RDMA payload
NL_CFLAGS := $(shell pkg-config --cflags libnl-route-3.0)
NL_LIBS := $(shell pkg-config --libs libnl-route-3.0)
# libcurl and json-c: xport/etcd/ (the cluster store's etcd client) and
# xport/records.c (its records)
ETCD_CFLAGS := $(shell pkg-config --cflags libcurl json-c)
ETCD_LIBS := $(shell pkg-config --libs libcurl json-c)
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -I. -g -fPIC -MMD -MP $(WARN) \
	$(NL_CFLAGS) $(ETCD_CFLAGS)
OPT_CFLAGS := -O2
SAN_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
LDLIBS := -luring -lisal -linih -lcrypto -lpthread -libverbs -lrdmacm \
	$(NL_LIBS) $(ETCD_LIBS)

# One archive per layer, linked top down: handler, node -> lib -> xport ->
# util (docs/architecture.md "Layers").
UTIL_SRCS := $(sort $(wildcard lib/util/*.c))
XPORT_SRCS := $(sort $(wildcard xport/*.c xport/rdma/*.c xport/etcd/*.c))
LIB_SRCS := $(sort $(wildcard lib/*.c lib/engine/*.c))
NODE_SRCS := $(sort $(wildcard node/*.c))
NODE_CORE_SRCS := $(filter-out node/main.c,$(NODE_SRCS))
HANDLER_SRCS := $(sort $(wildcard handler/*.c))
HANDLER_CORE_SRCS := $(filter-out handler/handler.c,$(HANDLER_SRCS))
TOOL_NAMES := spanblkctl spanblk-bench
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))

B := build
S := build-san
F := build-fuzz

obj = $(patsubst %.c,$(1)/obj/%.o,$(2))

PROGS := spanblkd handler_spanblk.so $(TOOL_NAMES)

all: $(addprefix $(B)/,$(PROGS)) $(B)/rdma-forge

# ---- objects ---------------------------------------------------------------
$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) $(CFLAGS) -c $< -o $@

$(S)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) $(CFLAGS) -c $< -o $@

# ---- one private static library per layer, per build flavour --------------
# $(call archive,DIR,NAME,SOURCES): DIR/libNAME.a from SOURCES' objects.
define archive
$(1)/lib$(2).a: $(call obj,$(1),$(3))
	@rm -f $$@
	ar rcs $$@ $$^
endef

define flavour
$(call archive,$(1),sbutil,$(UTIL_SRCS))
$(call archive,$(1),xport,$(XPORT_SRCS))
$(call archive,$(1),spanblk,$(LIB_SRCS))
$(call archive,$(1),node,$(NODE_CORE_SRCS))
$(call archive,$(1),handler,$(HANDLER_CORE_SRCS))
$(1)/spanblkd: $(call obj,$(1),node/main.c) $(1)/libnode.a \
		$(1)/libspanblk.a $(1)/libxport.a $(1)/libsbutil.a
	$$(CC) $(2) -o $$@ $$^ $(LDLIBS)
$(1)/spanblkctl: $(call obj,$(1),tools/spanblkctl.c tools/cli.c \
		tools/ctl_store.c tools/ctl_scrub.c tools/ctl_node.c) \
		$(1)/libspanblk.a $(1)/libxport.a $(1)/libsbutil.a
	$$(CC) $(2) -o $$@ $$^ $(LDLIBS)
$(1)/spanblk-bench: $(call obj,$(1),tools/spanblk-bench.c tools/cli.c \
		tools/latency.c tools/timeline.c) \
		$(1)/libspanblk.a $(1)/libxport.a $(1)/libsbutil.a
	$$(CC) $(2) -o $$@ $$^ $(LDLIBS) -lm
$(1)/handler_spanblk.so: $(call obj,$(1),handler/handler.c) \
		$(1)/libhandler.a $(1)/libspanblk.a $(1)/libxport.a \
		$(1)/libsbutil.a handler/exports.map
	$$(CC) $(2) -shared -o $$@ $(call obj,$(1),handler/handler.c) \
		-Wl,--whole-archive $(1)/libhandler.a -Wl,--no-whole-archive \
		$(1)/libspanblk.a $(1)/libxport.a $(1)/libsbutil.a \
		-Wl,--version-script=handler/exports.map \
		$(LIBTCMU) $(LDLIBS)
endef
$(eval $(call flavour,$(B),))
$(eval $(call flavour,$(S),$(SAN_CFLAGS)))

# ---- guest test helper: token binding on a real RDMA device ----------------
# (tests/vm/scenarios/rdma_spanblk.sh runs it; not installed)
$(B)/rdma-forge: $(call obj,$(B),tests/vm/rdma_forge.c tests/common/sockio.c) \
		$(B)/libspanblk.a \
		$(B)/libxport.a \
		$(B)/libsbutil.a
	$(CC) -o $@ $^ $(LDLIBS)

# ---- unit tests: one binary per source file, sanitizers on -----------------
# Each links the layer archives (the linker takes only the objects it
# uses), the shared test doubles of tests/common/ (the fake verbs device),
# libtcmu only when its code calls libtcmu (UNIT_TCMU), and extra flags
# (--wrap fault injection) from tests/unit/NAME.ldflags.
UNIT_BINS := $(patsubst tests/unit/%.c,$(S)/tests/%,$(UNIT_SRCS))
TEST_COMMON_SRCS := $(sort $(wildcard tests/common/*.c))
$(eval $(call archive,$(S),testcommon,$(TEST_COMMON_SRCS)))
LAYER_ARCHIVES = $(S)/libhandler.a $(S)/libnode.a $(S)/libspanblk.a \
	$(S)/libxport.a $(S)/libsbutil.a
UNIT_TCMU := test_dispatch test_tcmu_abi
$(S)/tests/%: $(S)/obj/tests/unit/%.o $(S)/libtestcommon.a $(LAYER_ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -o $@ $< $(S)/libtestcommon.a $(LAYER_ARCHIVES) \
		$(if $(filter $*,$(UNIT_TCMU)),$(LIBTCMU)) -lcmocka $(LDLIBS) \
		$(shell cat tests/unit/$*.ldflags 2>/dev/null)

# ---- host tests: cmocka binaries that start real spanblkd processes -------
HOST_SRCS := $(sort $(wildcard tests/host/test_*.c))
HOST_BINS := $(patsubst tests/host/%.c,$(S)/tests/host_%,$(HOST_SRCS))
TESTLIB_OBJ := $(call obj,$(S),tests/host/testlib.c)
$(S)/tests/host_%: $(S)/obj/tests/host/%.o $(TESTLIB_OBJ) \
		$(S)/libtestcommon.a $(LAYER_ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -o $@ $< $(TESTLIB_OBJ) $(S)/libtestcommon.a \
		$(LAYER_ARCHIVES) -lcmocka $(LDLIBS)

# ---- host harness (loads the real .so as tcmu-runner does) -----------------
# It links only what tcmu-runner itself would give the plugin (its own
# exports and the system's libtcmu.so.2) plus the test library to run
# nodes and read their counters (with the test doubles' archive, for the
# child process start the test library uses).
$(S)/tests/tcmu_harness: $(S)/obj/tests/host/tcmu_harness.o $(TESTLIB_OBJ) \
		$(S)/libtestcommon.a \
		$(S)/libspanblk.a $(S)/libxport.a $(S)/libsbutil.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -rdynamic -o $@ $^ $(LIBTCMU) -lcmocka -ldl \
		$(LDLIBS)

san: $(addprefix $(S)/,$(PROGS)) $(UNIT_BINS) $(HOST_BINS) \
	$(S)/tests/tcmu_harness

check-quick: layers-check all san
	tests/run.sh quick

# The real kernel stack (LIO, TCMU, iSCSI) in a QEMU guest: docs/vm.md.
check-vm: all
	tests/run.sh vm

check: format-check layers-check all san fuzz-build
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} tests/run.sh full

# The randomized fault test, long: kill -9, SIGSTOP, wiped disks, gateway
# restarts under I/O checked against a model of acknowledged writes.
soak: $(S)/tests/host_test_chaos $(S)/spanblkd
	CHAOS_SECONDS=$(SOAK_SECONDS) $(S)/tests/host_test_chaos

# ---- fuzzing (clang libFuzzer) ---------------------------------------------
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -I. -g -O1 $(NL_CFLAGS) $(ETCD_CFLAGS) \
	-fsanitize=fuzzer-no-link,address,undefined
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(F)/%,$(FUZZ_SRCS))
$(F)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@
$(eval $(call archive,$(F),fuzzlib,$(HANDLER_CORE_SRCS) $(NODE_CORE_SRCS) \
	$(LIB_SRCS) $(XPORT_SRCS) $(UTIL_SRCS)))
$(F)/fuzz_%: $(F)/obj/tests/fuzz/fuzz_%.o $(F)/libfuzzlib.a
	$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBTCMU) \
		$(LDLIBS)
fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run.sh fuzz

# ---- install, demo, bench, format ------------------------------------------
install: all
	install -D -m 0755 $(B)/handler_spanblk.so \
		$(DESTDIR)$(TCMU_HANDLER_DIR)/handler_spanblk.so
	install -D -m 0755 $(B)/spanblkd $(DESTDIR)$(PREFIX)/sbin/spanblkd
	install -D -m 0755 $(B)/spanblkctl $(DESTDIR)$(PREFIX)/bin/spanblkctl
	install -D -m 0755 $(B)/spanblk-bench \
		$(DESTDIR)$(PREFIX)/bin/spanblk-bench
	install -d $(DESTDIR)$(PREFIX)/share/spanblk/targetcli_snippets
	install -m 0644 targetcli_snippets/* \
		$(DESTDIR)$(PREFIX)/share/spanblk/targetcli_snippets/

# The main job: the real kernel stack in a QEMU guest (root: docs/vm.md).
demo: all
	tests/vm/run.sh main_demo 900

# The same cluster on this host, driven by spanblk-bench (no kernel target).
demo-host: all
	scripts/demo.sh

bench: all
	scripts/bench.sh
	if [ "$${FAILOVER:-0}" = 1 ]; then scripts/bench-failover.sh; fi

# Failure handling with etcd: docs/benchmarks.md section 5.
bench-failover: all
	scripts/bench-failover.sh

# spanblk, LIO fileio and user:qcow over iSCSI in one guest boot (root).
bench-vm: all
	scripts/bench-vm.sh

FORMAT_SRCS = $(sort $(wildcard */*.c */*.h */*/*.c */*/*.h tests/*/*.c tests/*/*.h))
format:
	clang-format -i $(FORMAT_SRCS)
format-check:
	clang-format --dry-run -Werror $(FORMAT_SRCS)
# The layering rule of docs/architecture.md, on every #include.
layers-check:
	scripts/check-layers.py

clean:
	rm -rf $(B) $(S) $(F)

.PHONY: all san check check-quick check-vm soak fuzz fuzz-build install demo \
	demo-host bench bench-failover bench-vm \
	format format-check layers-check clean
.SECONDARY:

-include $(shell find $(B) $(S) $(F) -name '*.d' 2>/dev/null)
