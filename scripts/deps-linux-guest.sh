#!/usr/bin/env bash
# deps-linux-guest.sh -- the Linux guest that tests the backend against a real
# peer (DESIGN §7, issue 4): Debian's cloud kernel plus a tiny initramfs.
#
#   build/linux-guest/vmlinuz         the kernel (never installed on the host)
#   build/linux-guest/initramfs.cpio.gz
#                                     busybox-static, the vsock modules and
#                                     tests/backend/guest/vsockpeer (static)
#
# The kernel package comes from Debian's archive with `apt-get download`
# through a private apt state in build/apt-amd64 (the system's sources and
# package database stay untouched).  Each step leaves a stamp; a second run
# with everything present takes well under a second.  The host packages it
# uses (busybox-static, cpio, xz-utils, gcc) come from scripts/deps.sh.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
out=$build/linux-guest
aptdir=$build/apt-amd64
mkdir -p "$out"
log() { printf 'deps-linux-guest: %s\n' "$*" >&2; }
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

# --- 1. the kernel package, through a private apt state ---------------------
apt_private() {
	apt-get -q \
		-o Dir::Etc::SourceList="$aptdir/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$aptdir/lists" \
		-o Dir::Cache="$aptdir/cache" \
		-o APT::Sandbox::User=root \
		"$@"
}
apt_cache_private() {
	apt-cache \
		-o Dir::Etc::SourceList="$aptdir/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$aptdir/lists" \
		-o Dir::Cache="$aptdir/cache" \
		"$@"
}
if [ ! -f "$out/kernel.stamp" ]; then
	mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
	uri=$(grep -hoE '^(URIs:|deb) +[a-z]+://[^ ]+' /etc/apt/sources.list.d/*.sources \
		/etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 | awk '{print $2}' || true)
	uri=${uri:-http://deb.debian.org/debian}
	suri=$(grep -hoE '^(URIs:|deb) +[a-z]+://[^ ]+security[^ ]*' /etc/apt/sources.list.d/*.sources \
		/etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}' || true)
	suri=${suri:-http://deb.debian.org/debian-security}
	cat >"$aptdir/sources.list" <<EOL
deb [arch=amd64] $uri bookworm main
deb [arch=amd64] $uri bookworm-updates main
deb [arch=amd64] $suri bookworm-security main
EOL
	log "updating private apt lists in $aptdir"
	apt_private update >"$aptdir/update.log" 2>&1 ||
		{ cat "$aptdir/update.log" >&2; exit 1; }
	# The metapackage names the real image package; prefer its -unsigned twin.
	real=$(apt_cache_private depends linux-image-cloud-amd64 |
		awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$real" ] || { log "cannot resolve linux-image-cloud-amd64"; exit 1; }
	if apt_cache_private show "$real-unsigned" >/dev/null 2>&1; then
		real=$real-unsigned
	fi
	log "downloading $real"
	rm -rf "$out/pkg" "$out/root" && mkdir -p "$out/pkg"
	(cd "$out/pkg" && apt_private download "$real" >download.log 2>&1) ||
		{ cat "$out/pkg/download.log" >&2; exit 1; }
	dpkg-deb -x "$out"/pkg/linux-image-*.deb "$out/root"
	cp "$out"/root/boot/vmlinuz-* "$out/vmlinuz"
	rm -f "$out"/pkg/*.deb
	touch "$out/kernel.stamp"
fi

# --- 2. the initramfs ---------------------------------------------------------
peer_src=$top/tests/backend/guest/vsockpeer.c
initrd=$out/initramfs.cpio.gz
if [ -f "$initrd" ] && [ "$initrd" -nt "$peer_src" ] && [ "$initrd" -nt "$0" ] &&
	[ "$initrd" -nt "$out/kernel.stamp" ]; then
	exit 0
fi
log "building $initrd"
staging=$out/initramfs
rm -rf "$staging" && mkdir -p "$staging"/{bin,sbin,proc,sys,dev,tmp,lib/modules}
cp /bin/busybox "$staging/bin/busybox"
for applet in sh mount insmod ip cat echo sleep poweroff ls dmesg; do
	ln -sf busybox "$staging/bin/$applet"
done
gcc -static -O2 -Wall -Wextra -Werror -o "$staging/bin/vsockpeer" "$peer_src"
kver=$(ls "$out/root/lib/modules" | head -n1)
mods="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport"
order=()
for m in $mods; do
	f=$(find "$out/root/lib/modules/$kver" -name "$m.ko*" | head -n1)
	if [ -z "$f" ]; then
		log "module $m not found (built in?)"
		continue
	fi
	case $f in
	*.xz) xz -dc "$f" >"$staging/lib/modules/$m.ko" ;;
	*.zst) zstd -dqc "$f" >"$staging/lib/modules/$m.ko" ;;
	*) cp "$f" "$staging/lib/modules/$m.ko" ;;
	esac
	order+=("$m")
done
cat >"$staging/init" <<EOL
#!/bin/sh
# init -- load the virtio-vsock modules, start the test peer, report READY.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in ${order[*]}; do
	insmod /lib/modules/\$m.ko || echo "insmod \$m failed"
done
ip link set lo up 2>/dev/null
/bin/vsockpeer serve 5000 &
while true; do sleep 3600; done
EOL
chmod +x "$staging/init"
(cd "$staging" && find . | cpio -o -H newc --quiet | gzip -1 >"$initrd.tmp")
mv "$initrd.tmp" "$initrd"
log "initramfs ready ($(stat -c %s "$initrd") bytes)"
