# The image's make targets, included by the top-level Makefile (`include recipes/image.mk`).
# The work is in the recipes/*.sh scripts; these are only entry points. Heavy steps run under
# nice -n 19 ionice -c3 inside the scripts.
#
#   make image-deps                  apt packages (QEMU 10 from bookworm-backports through a
#                                    private apt configuration), rustup target; as root
#   make cross                       static aarch64-musl `spot` (C toolchain and alsa-lib cached)
#   make test-aarch64                the workspace's tests for aarch64, under qemu-aarch64-static
#   make image BOARD=rpi4            out/spot-BOARD-VERSION.img(.xz, .sha256, .bmap);
#                                    BOARD=rpi4|rpi3|zero2w|qemu-arm64
#   make qemu-image                  the qemu-arm64 image (NO_XZ) and its contents test; the
#                                    QEMU targets below build it once per make run
#   make qemu-test                   boots the qemu-arm64 image, waits for the daemon, the smoke
#                                    test, a graceful power-off; then the A/B fallback test (slot
#                                    A's kernel removed) and the Raspberry Pi Imager preset test
#   make qemu-test-powercut          SIGKILLs QEMU right after acknowledged messages, on a disk
#                                    that drops what was not flushed; every one must survive
#   make qemu-test-dataproblem       a damaged, then a missing data partition: the problem page,
#                                    repair, erase, back to first-run setup
#   make image-smoke                 cross build, qemu-image, qemu-test.sh's boot and smoke test:
#                                    what CI runs for a daemon-only change (.ci/run)
#   make qemu-test-raspi3b           builds the rpi3 image and boots that very image under
#                                    qemu-system-aarch64 -M raspi3b (Pi U-Boot, boot.scr, the
#                                    boot state on FAT): a trial boot of slot B, then its commit
#   make ota BOARD=rpi4              out/spot-BOARD-VERSION.spotota: the update bundle of the
#                                    image `make image` builds (OTA_KEY=targets.key for a release;
#                                    OTA_ROOT=feed/root.json for the images that trust it)
#   make qemu-test-ota               updates end to end on the qemu-arm64 image: v1 -> v2 through
#                                    the admin API, commit; a v3 whose daemon never gets ready
#                                    falls back to v2 by itself; v2 again is refused
#
# Every image gets the image-contents test (recipes/check-image.sh).
#
# Caches: $(IMAGE_CACHE) (debs, Debian trees, work dirs) and $(SPOT_CACHE)/cross,
# $(SPOT_CACHE)/target-cross (a cargo target dir of its own, apart from the native build's).

BOARD ?= rpi4
IMAGE_CACHE ?= /var/cache/spot-image
SPOT_CACHE ?= $(HOME)/.cache/spot
IMAGE_ENV = IMAGE_CACHE=$(IMAGE_CACHE) SPOT_CACHE=$(SPOT_CACHE) CROSS_TARGET_DIR=$(SPOT_CACHE)/target-cross

.PHONY: image-deps cross test-aarch64 image ota qemu-image qemu-test qemu-test-powercut qemu-test-dataproblem qemu-test-wifi qemu-test-raspi3b qemu-test-ota image-repro image-smoke

image-deps:
	$(IMAGE_ENV) bash recipes/deps.sh

# The web app is embedded into the daemon at compile time: build it first (`web` is the
# top-level Makefile's target).
cross: web
	$(IMAGE_ENV) bash recipes/cross.sh build

test-aarch64:
	$(IMAGE_ENV) bash recipes/cross.sh test

# SPOT_BIN=path skips the cross build and puts that binary in the image.
# The image-contents test runs on every image built.
CROSS_BIN = $(SPOT_CACHE)/target-cross/aarch64-unknown-linux-musl/release/spot
image: $(if $(SPOT_BIN),,cross)
	$(IMAGE_ENV) SPOT_BIN=$(or $(SPOT_BIN),$(CROSS_BIN)) bash recipes/image.sh $(BOARD)
	bash recipes/check-image.sh out/spot-$(BOARD).img $(BOARD)

# The update bundle from the same inputs as `make image` (it builds the image first).
ota: $(if $(SPOT_BIN),,cross)
	$(IMAGE_ENV) SPOT_BIN=$(or $(SPOT_BIN),$(CROSS_BIN)) bash recipes/ota.sh bundle $(BOARD)

qemu-image: $(if $(SPOT_BIN),,cross)
	$(IMAGE_ENV) SPOT_BIN=$(or $(SPOT_BIN),$(CROSS_BIN)) NO_XZ=1 bash recipes/image.sh qemu-arm64
	bash recipes/check-image.sh out/spot-qemu-arm64.img qemu-arm64

qemu-test: qemu-image
	$(IMAGE_ENV) bash recipes/qemu-test.sh
	$(IMAGE_ENV) bash recipes/qemu-test.sh --fallback
	$(IMAGE_ENV) bash recipes/qemu-test.sh --preset

# Wi-Fi first run with simulated radios (recipes/wifi-test/): the box's setup access point, a
# phone in a network namespace through the wizard, a wrong and the right home password, and the
# fallback to the access point when the home network goes away.
qemu-test-wifi: qemu-image
	$(IMAGE_ENV) bash recipes/qemu-test-wifi.sh

# Power cuts (recipes/qemu-test-powercut.sh: ROUNDS=3 cuts by default) and the data-partition
# problem mode (recipes/qemu-test-dataproblem.sh).
qemu-test-powercut: qemu-image
	$(IMAGE_ENV) bash recipes/qemu-test-powercut.sh

qemu-test-dataproblem: qemu-image
	$(IMAGE_ENV) bash recipes/qemu-test-dataproblem.sh

# Updates end to end (recipes/qemu-test-ota.sh): builds its own v1 image and v2 bundle (make ota's
# recipe) and a v3 made from v2's root slot whose daemon never gets ready.
qemu-test-ota: $(if $(SPOT_BIN),,cross)
	$(IMAGE_ENV) SPOT_BIN=$(or $(SPOT_BIN),$(CROSS_BIN)) bash recipes/qemu-test-ota.sh

# A daemon-only change (firmware/, web/, Cargo.*): the cross build, the image with the cached
# Debian tree and its contents test, the QEMU boot and smoke test. Records the daemon inputs it
# tested in .ci/image-tested (the system inputs only `make image-check` records). The inputs are
# hashed before the run: a file edited meanwhile is not counted as tested.
image-smoke:
	@inputs=$$(.ci/image-inputs.sh) && \
	$(MAKE) qemu-image && \
	$(IMAGE_ENV) bash recipes/qemu-test.sh && \
	.ci/image-inputs.sh record daemon "$$inputs"

# The real rpi3 image under -M raspi3b: U-Boot and the Pi 3 B device tree from its boot partition
# stand in for the VideoCore firmware, which QEMU does not run. Slower than qemu-test (4 emulated
# cores, SD and USB emulation): a boot takes minutes on a loaded machine.
qemu-test-raspi3b: $(if $(SPOT_BIN),,cross)
	$(IMAGE_ENV) SPOT_BIN=$(or $(SPOT_BIN),$(CROSS_BIN)) NO_XZ=1 bash recipes/image.sh rpi3
	bash recipes/check-image.sh out/spot-rpi3.img rpi3
	$(IMAGE_ENV) bash recipes/qemu-test-raspi3b.sh

# Two builds of the qemu-arm64 image from the same inputs must be byte-identical.
image-repro: $(if $(SPOT_BIN),,cross)
	$(IMAGE_ENV) SPOT_BIN=$(or $(SPOT_BIN),$(CROSS_BIN)) bash recipes/check-repro.sh qemu-arm64
