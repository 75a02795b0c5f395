# Lego: a thin wrapper over CMake.
#   make            build into build/ (tools in build/bin, liblego in build/lib)
#   make demo       install missing Debian packages, build, run the demo
#   make test       same set-up, then every test (warnings are errors)
#   make test-asan  the tests again under AddressSanitizer and UBSan
#   make bench      benchmarks, side by side with native and the floors
#   make install PREFIX=/usr/local
BUILD   ?= build
PREFIX  ?= /usr/local
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_FLAGS ?= --output-on-failure

.PHONY: all build deps demo test test-asan bench install clean

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
	cd build-asan && ctest $(CTEST_FLAGS) -L "unit|integration"

bench: deps
	@$(MAKE) --no-print-directory build
	@bench/run.sh $(BUILD)
	@bench/files.sh $(BUILD)
	@bench/replicas.sh $(BUILD)
	@bench/load.sh $(BUILD)
	@if [ "$$(id -u)" -eq 0 ]; then bench/compare.sh $(BUILD); \
	else echo "bench: Lego vs Linux swap needs root (swap device, memory cgroup): skipped"; fi

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) build-asan
