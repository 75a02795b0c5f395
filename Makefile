# Lego: thin wrapper over CMake.  `make demo` and `make test` first install
# the Debian packages the project needs (see scripts/deps.sh).
BUILD   ?= build
PREFIX  ?= /usr/local
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build deps demo test test-asan bench install clean

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh

clean:
	rm -rf $(BUILD) build-asan
