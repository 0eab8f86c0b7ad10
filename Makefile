# Wrappers: `make run` and `make test` do all set-up (Debian packages, build) themselves.
BUILD ?= build
JOBS ?= $(shell nproc)
RUN_ARGS ?=
# `make run`: a real third-party server (Debian's uvicorn, installed by `make deps`) in every slot.
RUN_COMMAND ?= /usr/bin/python3 -m uvicorn --fd 3 --no-access-log --app-dir tests/apps asgi_app:app
SERVE_ARGS ?=
FUZZ_SECONDS ?= 300
FUZZ_BUILD ?= build-fuzz
ASAN_BUILD ?= build-asan
# Warnings are errors in every tree this Makefile builds (CMake's HERDLESS_WERROR; a plain
# `cmake` build of a user leaves it off).
WERROR ?= ON
# `make build-types`: the Release tree CI builds besides `make test`'s (see scripts/build-types.sh).
BUILD_TYPES ?= Release

.PHONY: all deps build build-types run serve test test-asan fuzz bench bench-http bench-udp clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERDLESS_WERROR=$(WERROR)

# A tree configured before HERDLESS_WERROR existed (or with the other value) is set to $(WERROR).
build: deps $(BUILD)/build.ninja
	@grep -qx 'HERDLESS_WERROR:BOOL=$(WERROR)' $(BUILD)/CMakeCache.txt || cmake $(BUILD) -DHERDLESS_WERROR=$(WERROR)
	cmake --build $(BUILD) -j $(JOBS)

# Release (by default) with GCC, warnings as errors: the herdless binary and the unit tests
# compile, and the unit tests pass. CI runs it after `make test`.
build-types: deps
	TEST=1 WERROR=$(WERROR) JOBS=$(JOBS) DIR='build-{type}' ./scripts/build-types.sh $(BUILD_TYPES)

run: build
	./$(BUILD)/herdless run $(RUN_ARGS) -- $(RUN_COMMAND)

serve: build
	./$(BUILD)/herdless serve $(SERVE_ARGS)

# Every test, then the library as a user gets it (install, examples built against it).
test: build
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 300
	./scripts/check-install.sh $(BUILD)

# The whole suite built with AddressSanitizer + UndefinedBehaviorSanitizer; any report fails it.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERDLESS_SANITIZE=ON -DHERDLESS_WERROR=$(WERROR)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j 2 --timeout 600

# The HTTP parser under libFuzzer (clang, ASan + UBSan) for FUZZ_SECONDS; new inputs go to
# $(FUZZ_BUILD)/corpus, the seeds in fuzz/corpus stay as they are.
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DHERDLESS_FUZZ=ON -DHERDLESS_WERROR=$(WERROR)
	cmake --build $(FUZZ_BUILD) --target request_parser_fuzz
	mkdir -p $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/artifacts
	$(FUZZ_BUILD)/request_parser_fuzz -max_total_time=$(FUZZ_SECONDS) -dict=fuzz/http.dict \
	  -artifact_prefix=$(FUZZ_BUILD)/artifacts/ -print_final_stats=1 $(FUZZ_BUILD)/corpus fuzz/corpus

bench: build
	./bench/accept_rate.sh

bench-http: build
	./bench/http_vs_nginx.sh

bench-udp: build
	./bench/udp_rate.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-release
