# Lego: a thin wrapper over CMake.
#   make            build into build/ (tools in build/bin, liblego in build/lib)
#   make demo       install missing Debian packages, build, run the demo
#   make test       same set-up, then every test (warnings are errors)
#   make test-asan  the tests again under AddressSanitizer and UBSan
#   make bench      benchmarks, side by side with native and the floors
#   make fuzz       libFuzzer targets (clang), FUZZ_RUNS executions each
#                   (default 10 million) or FUZZ_SECONDS seconds at most
#   make install PREFIX=/usr/local
BUILD   ?= build
PREFIX  ?= /usr/local
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=
# two tests at a time where they allow it (tests/CMakeLists.txt, PROCESSORS)
CTEST_FLAGS ?= --output-on-failure -j2
FUZZ_RUNS ?= 10000000
FUZZ_SECONDS ?=
FUZZERS ?= memnode storenode monitor wire options

.PHONY: all build deps demo test test-asan bench fuzz install clean

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh

demo: deps
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh $(BUILD)

test: deps
	@$(MAKE) --no-print-directory build CMAKE_FLAGS="$(CMAKE_FLAGS) -DLEGO_WERROR=ON"
	cd $(BUILD) && ctest $(CTEST_FLAGS)

test-asan: deps
	@$(MAKE) --no-print-directory build BUILD=build-asan \
		CMAKE_FLAGS="$(CMAKE_FLAGS) -DLEGO_WERROR=ON -DLEGO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
	cd build-asan && ctest $(CTEST_FLAGS) -L "unit|integration|fuzzsmoke"

bench: deps
	@$(MAKE) --no-print-directory build
	@bench/run.sh $(BUILD)
	@bench/files.sh $(BUILD)
	@bench/replicas.sh $(BUILD)
	@bench/load.sh $(BUILD)
	@bench/threads.sh $(BUILD)
	@bench/fork.sh $(BUILD)
	@bench/start.sh $(BUILD)
	@bench/frees.sh $(BUILD)
	@if [ "$$(id -u)" -eq 0 ]; then bench/compare.sh $(BUILD); \
	else echo "bench: Lego vs Linux swap needs root (swap device, memory cgroup): skipped"; fi

fuzz:
	@scripts/deps.sh clang
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DLEGO_FUZZ=ON -DLEGO_WERROR=ON $(CMAKE_FLAGS)
	cmake --build build-fuzz -j $(JOBS) --target fuzzers
	@FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh build-fuzz $(FUZZERS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) build-asan build-fuzz
