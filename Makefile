# tally - make | make run | make test | make bench | make SANITIZE=1 test | make fmt
CC      ?= cc
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   := build
SANFLAGS :=
endif
BIN     := $(if $(filter 1,$(SANITIZE)),$(BUILD)/tally,bin/tally)

PKGS    := libpq rdkafka libcjson libmicrohttpd libcurl libcrypto
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) $(SANFLAGS) -MMD -MP \
           -I/usr/include/postgresql $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpq -lrdkafka -lcjson -lmicrohttpd -lcurl -lcrypto) -lpthread -lm
LDFLAGS += $(SANFLAGS)

DIRS    := common ledger collector reports router web embedded cmd
SRCS    := $(foreach d,$(DIRS),$(wildcard $(d)/*.c))
LIBSRCS := $(filter-out cmd/main.c,$(SRCS))
OBJS    := $(SRCS:%.c=$(BUILD)/%.o)
LIBOBJS := $(LIBSRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/embedded.o
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run test unit unit-san fuzz integration bench fmt clean
all: $(BIN)

deps:
	@./scripts/deps.sh

$(BIN): $(OBJS) $(BUILD)/gen/embedded.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/embedded.c: scripts/embed.sh $(wildcard migrations/*.sql) data/litellm_model_prices.json data/local_prices.csv
	@mkdir -p $(dir $@)
	./scripts/embed.sh $@

$(BUILD)/gen/embedded.o: $(BUILD)/gen/embedded.c
	$(CC) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS) -lcmocka

# What a user and CI type. Installs missing Debian packages first.
run: deps
	@$(MAKE) --no-print-directory all
	$(BIN) up --demo

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory $(UNIT_BINS)
	@$(MAKE) --no-print-directory SANITIZE=1 unit-bins
	@$(MAKE) --no-print-directory fuzz-bin
	@BIN=$(BIN) BUILD=$(BUILD) ./tests/run.sh

unit-bins: $(UNIT_BINS)

unit: deps
	@$(MAKE) --no-print-directory $(UNIT_BINS)
	@BIN=$(BIN) BUILD=$(BUILD) ./tests/run.sh unit

FUZZ_SRCS := $(wildcard common/*.c)
fuzz-bin: build-fuzz/fuzz_event
build-fuzz/fuzz_event: tests/fuzz/fuzz_event.c $(FUZZ_SRCS)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
		-I/usr/include/postgresql $(shell pkg-config --cflags libcjson) \
		-o $@ $^ $(shell pkg-config --libs libcjson) -lpthread

bench: deps
	@$(MAKE) --no-print-directory all
	@BIN=$(BIN) sh bench/run.sh
	@BIN=$(BIN) sh bench/router.sh
	@BIN=$(BIN) sh bench/reports.sh
	@BIN=$(BIN) sh bench/web.sh

fmt:
	clang-format -i $(SRCS) $(wildcard */*.h) $(UNIT_SRCS) $(wildcard tests/fuzz/*.c)

clean:
	rm -rf build build-san build-fuzz bin

# The web dashboard's assets (npm, lockfile) and how they are embedded.
-include web/web.mk

-include $(OBJS:.o=.d) $(UNIT_BINS:=.d)
