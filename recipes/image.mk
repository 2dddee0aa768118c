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
#   make qemu-test                   builds the qemu-arm64 image, boots it, waits for the daemon
#
# Every image gets the image-contents test (recipes/check-image.sh).
#
# Caches: $(IMAGE_CACHE) (debs, Debian trees, work dirs) and $(SPOT_CACHE)/cross,
# $(SPOT_CACHE)/target-cross (a cargo target dir of its own, apart from the native build's).

BOARD ?= rpi4
IMAGE_CACHE ?= /var/cache/spot-image
SPOT_CACHE ?= $(HOME)/.cache/spot
IMAGE_ENV = IMAGE_CACHE=$(IMAGE_CACHE) SPOT_CACHE=$(SPOT_CACHE)

.PHONY: image-deps cross test-aarch64 image qemu-test

image-deps:
	$(IMAGE_ENV) bash recipes/deps.sh

cross:
	$(IMAGE_ENV) bash recipes/cross.sh build

test-aarch64:
	$(IMAGE_ENV) bash recipes/cross.sh test

# SPOT_BIN=path skips the cross build and puts that binary in the image.
# The image-contents test runs on every image built.
image:
	$(IMAGE_ENV) bash recipes/image.sh $(BOARD)
	bash recipes/check-image.sh out/spot-$(BOARD).img $(BOARD)

qemu-test:
	$(IMAGE_ENV) NO_XZ=1 bash recipes/image.sh qemu-arm64
	bash recipes/check-image.sh out/spot-qemu-arm64.img qemu-arm64
	$(IMAGE_ENV) bash recipes/qemu-test.sh
