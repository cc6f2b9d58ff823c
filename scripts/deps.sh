#!/usr/bin/env bash
# deps.sh -- install and build everything the project needs, idempotently.
#
# Called by the Makefile before any build.  Everything comes from Debian's
# archive (DESIGN §2):
#   1. Debian packages of the build and tests, installed when missing;
#   2. newlib from newlib-source, built per architecture into build/newlib/;
#   3. nanopb's runtime from Debian's *source* package, fetched with a private
#      apt list under build/apt/ (the system's sources stay untouched);
#   4. gnu-efi and busybox-static (for the user-mode tests) for arm64,
#      downloaded and extracted with the same private apt state (arm64 is
#      never added to the system's architectures).
# Each step leaves a stamp file; a second run with everything present takes
# well under a second.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
mkdir -p "$build"
log() { printf 'deps: [%3ds] %s\n' "$SECONDS" "$*" >&2; }
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

# Everything the build, `make run` and `make test` use that a new Debian 12
# machine (minbase plus gcc, make, git, python3, file) lacks.  CI proves the
# list in a fresh root (.ci/run); keep it complete, in one place.
packages=(
	# build: both images, host tools, generated protobuf code
	build-essential gnu-efi newlib-source nanopb
	libyaml-dev                          # the backend's --config files
	protobuf-compiler libprotobuf-dev    # protoc + google/protobuf/*.proto
	gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu
	libc6-dev-arm64-cross musl-tools     # static test programs (issue 14)
	golang-go golang-golang-x-sys-dev    # the static Go test program (issue 15)
	# run: QEMU with its firmware; mtools makes FAT images of the ESP
	qemu-system-x86 qemu-system-arm ovmf qemu-efi-aarch64 mtools
	# tests: pytest, the Python ttRPC client, the Linux test guest's
	# initramfs (scripts/deps-linux-guest.sh), pcap dissection
	python3-pytest python3-protobuf busybox-static cpio xz-utils tshark
	python3-pytest-timeout               # a hung test fails instead of hanging CI
	clang-format                         # the formatting check (tests/lint)
	clang libclang-rt-14-dev             # libFuzzer targets (make fuzz)
	python3-matplotlib                   # make bench's chart
)

# --- 1. Debian packages -----------------------------------------------------
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing ${missing[*]}"
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null ||
			{ log "not root and no sudo: install ${missing[*]} as root"; exit 1; }
		sudo=sudo
	fi
	# tshark asks whether non-root users may capture; answer for it (no).
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		$sudo debconf-set-selections
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >"$build/apt-install.log" 2>&1 ||
		{ cat "$build/apt-install.log" >&2; exit 1; }
	log "installed ${#missing[@]} packages"
fi

# --- private apt state for source and foreign-architecture downloads ------
aptdir=$build/apt
apt_private() {
	apt-get -q \
		-o Dir::Etc::SourceList="$aptdir/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$aptdir/lists" \
		-o Dir::Cache="$aptdir/cache" \
		-o APT::Architectures=arm64 -o APT::Architecture=arm64 \
		-o APT::Sandbox::User=root \
		"$@"
}
apt_private_ready() {
	[ -f "$aptdir/updated.stamp" ] && return
	mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
	# Same mirror as the system's own list, plus deb-src, arm64 only.
	local uri
	uri=$(grep -hoE '^(URIs:|deb) +[a-z]+://[^ ]+' /etc/apt/sources.list.d/*.sources \
		/etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 | awk '{print $2}' || true)
	uri=${uri:-http://deb.debian.org/debian}
	cat >"$aptdir/sources.list" <<EOF
deb [arch=arm64] $uri bookworm main
deb-src $uri bookworm main
EOF
	log "updating private apt lists in $aptdir"
	apt_private update >"$aptdir/update.log" 2>&1 ||
		{ cat "$aptdir/update.log" >&2; exit 1; }
	touch "$aptdir/updated.stamp"
}

# --- 2. gnu-efi for arm64 ---------------------------------------------------
efi_arm64=$build/gnu-efi-arm64
if [ ! -f "$efi_arm64/.stamp" ]; then
	apt_private_ready
	rm -rf "$efi_arm64" && mkdir -p "$efi_arm64"
	(cd "$efi_arm64" && apt_private download gnu-efi:arm64 >download.log 2>&1) ||
		{ cat "$efi_arm64/download.log" >&2; exit 1; }
	dpkg-deb -x "$efi_arm64"/gnu-efi_*_arm64.deb "$efi_arm64/root"
	touch "$efi_arm64/.stamp"
	log "gnu-efi arm64 extracted into $efi_arm64/root"
fi

# --- 2b. busybox-static for arm64 (the user-mode tests, issue 14) ---------
bb_arm64=$build/busybox-arm64
if [ ! -f "$bb_arm64/.stamp" ]; then
	apt_private_ready
	rm -rf "$bb_arm64" && mkdir -p "$bb_arm64"
	(cd "$bb_arm64" && apt_private download busybox-static:arm64 >download.log 2>&1) ||
		{ cat "$bb_arm64/download.log" >&2; exit 1; }
	dpkg-deb -x "$bb_arm64"/busybox-static_*_arm64.deb "$bb_arm64/root"
	[ -x "$bb_arm64/root/bin/busybox" ] || { log "busybox-static arm64 has no bin/busybox"; exit 1; }
	touch "$bb_arm64/.stamp"
	log "busybox-static arm64 extracted into $bb_arm64/root"
fi

# --- 3. nanopb runtime --------------------------------------------------------
nanopb=$build/nanopb
if [ ! -f "$nanopb/.stamp" ]; then
	apt_private_ready
	rm -rf "$nanopb" && mkdir -p "$nanopb/src"
	(cd "$nanopb" && apt_private source --download-only nanopb >download.log 2>&1) ||
		{ cat "$nanopb/download.log" >&2; exit 1; }
	tar -xf "$nanopb"/nanopb_*.orig.tar.* -C "$nanopb/src" --strip-components=1
	for f in pb.h pb_common.c pb_common.h pb_encode.c pb_encode.h pb_decode.c pb_decode.h; do
		[ -f "$nanopb/src/$f" ] || { log "nanopb source lacks $f"; exit 1; }
	done
	touch "$nanopb/.stamp"
	log "nanopb runtime in $nanopb/src"
fi

# --- 4. newlib per architecture ---------------------------------------------
build_newlib() { # arch target cc cflags
	local arch=$1 target=$2 cc=$3 cflags=$4
	local dir=$build/newlib/$arch
	local want="$target|$cc|$cflags|$newlib_flags"
	[ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$want" ] && return
	log "building newlib for $arch (a few minutes, once)"
	rm -rf "$dir" && mkdir -p "$dir/src" "$dir/obj"
	tar -xf /usr/src/newlib/newlib-*.tar.* -C "$dir/src" --strip-components=1
	(
		cd "$dir/obj"
		"$dir/src/configure" --target="$target" --prefix="$dir/install" \
			$newlib_flags \
			CC_FOR_TARGET="$cc" CFLAGS_FOR_TARGET="$cflags" \
			AR_FOR_TARGET="${cc%gcc}ar" RANLIB_FOR_TARGET="${cc%gcc}ranlib" \
			AS_FOR_TARGET="${cc%gcc}as" LD_FOR_TARGET="${cc%gcc}ld" \
			>"$dir/configure.log" 2>&1
		make -j"$(nproc)" all-target-newlib >"$dir/build.log" 2>&1
		make install-target-newlib >"$dir/install.log" 2>&1
	) || { tail -n 40 "$dir"/*.log >&2; exit 1; }
	# The image only links the C library (libm comes later if ever needed).
	ln -sfn "$dir/install/$target" "$dir/sysroot"
	rm -rf "$dir/src" "$dir/obj"
	echo "$want" >"$dir/.stamp"
	log "newlib for $arch built"
}
# c99 formats: %zu, %hhx and friends in printf.
newlib_flags='--disable-newlib-supplied-syscalls --disable-multilib --disable-nls
	--enable-newlib-io-long-long --enable-newlib-io-c99-formats'
newlib_flags=$(echo $newlib_flags)
common='-O2 -g -ffreestanding -fno-stack-protector -fno-stack-check -fPIC -fshort-wchar'
build_newlib x86_64 x86_64-elf gcc "$common -mno-red-zone" & pid_x86=$!
build_newlib aarch64 aarch64-elf aarch64-linux-gnu-gcc "$common" & pid_arm=$!
status=0
wait $pid_x86 || status=1
wait $pid_arm || status=1
exit $status
