# Wrappers: `make run` and `make test` do all set-up (Debian packages, build) themselves.
BUILD ?= build
JOBS ?= $(shell nproc)
RUN_ARGS ?=

.PHONY: all deps build run test bench clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/herdless serve $(RUN_ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 300

bench: build
	./bench/accept_rate.sh

clean:
	rm -rf $(BUILD)
