#!/usr/bin/env bash
# run.sh -- the main job (make run): boot the image under QEMU with the
# vhost-user-vsock backend, run containers through the agent with agentctl,
# and show their output and the log stream that reached the host.
#
#   make run                 x86_64 image
#   ARCH=aarch64 make run    the other one
#   AGENT_OPTS='...'         options for the image (load-options syntax: key=value ...)
#   SERIAL=1                 also print the image's serial console at the end
#
# Everything lives in a private temporary folder that is removed on exit;
# QEMU, the backend and the log listener are always stopped.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
arch=${ARCH:-x86_64}
opts=${AGENT_OPTS:-}
host=$top/build/host
work=$(mktemp -d "${TMPDIR:-/tmp}/vsock-agent-run.XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The image reaches the firmware through fw_cfg (-kernel, options as
# -append, no default devices): the fastest path on both architectures
# (bench/boot_paths.py).  README shows the folder-ESP form for disks.
case $arch in
x86_64)
	efi=BOOTX64.EFI
	cp /usr/share/OVMF/OVMF_VARS.fd "$work/vars.fd"
	qemu=(qemu-system-x86_64 -M q35,i8042=off,memory-backend=mem -cpu max -smp 1,maxcpus=2
		-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd
		-drive if=pflash,format=raw,unit=1,file="$work/vars.fd"
		-device isa-debug-exit,iobase=0xf4,iosize=0x04) ;;
aarch64)
	efi=BOOTAA64.EFI
	cp /usr/share/AAVMF/AAVMF_VARS.fd "$work/vars.fd"
	qemu=(qemu-system-aarch64 -M virt,memory-backend=mem -cpu cortex-a57 -smp 1,maxcpus=2
		-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd
		-drive if=pflash,format=raw,unit=1,file="$work/vars.fd") ;;
*) echo "run.sh: ARCH must be x86_64 or aarch64" >&2; exit 2 ;;
esac

uds=$work/vsock.sock
agentctl=("$host/agentctl" --addr "hvsock://$uds:1024")

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "backend: guest CID 3, hybrid vsock at $uds"
"$host/vhost-user-vsock" --guest-cid 3 --socket "$work/vhost.sock" --uds-path "$uds" \
	2>"$work/backend.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/vhost.sock" ] && break; sleep 0.05; done

say "log listener: agentctl logs --listen hvsock://$uds:1025"
"$host/agentctl" logs --listen "hvsock://$uds:1025" >"$work/logs.txt" 2>&1 &
pids+=($!)

say "QEMU ($arch, TCG) boots build/$arch/$efi"
start=$(date +%s%N)
"${qemu[@]}" -nodefaults -kernel "$top/build/$arch/$efi" -append "$opts" \
	-m 256M -display none -monitor none -no-reboot \
	-object memory-backend-memfd,id=mem,size=256M,share=on \
	-chardev socket,id=vc,path="$work/vhost.sock" -device vhost-user-vsock-pci,chardev=vc \
	-device virtio-rng-pci \
	-serial file:"$work/serial.log" </dev/null >"$work/qemu.log" 2>&1 &
qemu_pid=$!
pids+=($qemu_pid)

ready=
for _ in $(seq 300); do
	if "${agentctl[@]}" check >/dev/null 2>&1; then ready=1; break; fi
	kill -0 "$qemu_pid" 2>/dev/null || break
	sleep 0.2
done
if [ -z "$ready" ]; then
	echo "run.sh: the agent did not answer; serial console:" >&2
	tr -d '\r' <"$work/serial.log" >&2
	exit 1
fi
ms=$((($(date +%s%N) - start) / 1000000))
printf 'agent ready %d.%03d s after QEMU started: %s\n' $((ms / 1000)) $((ms % 1000)) \
	"$("${agentctl[@]}" version)"

# Each container's outcome is checked, so that the closing "run: ok" line
# (which CI looks for) means what it says.
failures=()
expect() { # want-status description -- command...
	local want=$1 what=$2 got=0
	shift 3
	"$@" || got=$?
	[ "$got" = 0 ] || echo "exit status: $got"
	[ "$got" = "$want" ] || failures+=("$what exited $got, not $want")
	containers=$((containers + 1))
}
containers=0

say "agentctl run echo hello from a vsock-agent container"
expect 0 echo -- "${agentctl[@]}" run --id demo-echo echo hello from a vsock-agent container

say "echo 'abc' | agentctl run -i sha256sum"
expect 0 sha256sum -- sh -c 'printf abc | "$@"' sh "${agentctl[@]}" run -i --id demo-sha sha256sum

say "agentctl run logspam 5"
expect 0 logspam -- "${agentctl[@]}" run --id demo-spam logspam 5

say "agentctl run exit 3 (the container's exit code becomes agentctl's)"
expect 3 "exit 3" -- "${agentctl[@]}" run --id demo-exit exit 3

say "agentctl run sysinfo"
expect 0 sysinfo -- "${agentctl[@]}" run --id demo-sysinfo sysinfo

sleep 1
say "the log stream that reached host CID 2, port 1025"
cat "$work/logs.txt"
records=$(grep -cE '^ *[0-9]+ ' "$work/logs.txt" || true)
for id in demo-echo demo-sha demo-spam demo-exit demo-sysinfo; do
	grep -q " $id/" "$work/logs.txt" ||
		failures+=("no log record of $id reached the host")
done

say "agentctl shutdown (DestroySandbox powers the VM off)"
"${agentctl[@]}" shutdown || failures+=("agentctl shutdown failed")
status=0
for _ in $(seq 100); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$qemu_pid" 2>/dev/null; then
	failures+=("QEMU still running 10 s after shutdown")
fi
wait "$qemu_pid" || status=$?
echo "QEMU exited with status $status"
[ "$status" = 0 ] || failures+=("QEMU exited with status $status")
if [ -n "${SERIAL:-}" ]; then
	say "serial console"
	tr -d '\r' <"$work/serial.log"
fi

if ((${#failures[@]})); then
	printf 'run: FAILED: %s\n' "${failures[@]}"
	echo "run: serial console:"
	tr -d '\r' <"$work/serial.log"
	exit 1
fi
printf 'run: ok: agent answered after %d.%03d s, %d containers ran, %d log records reached the host, VM powered off with status 0\n' \
	$((ms / 1000)) $((ms % 1000)) "$containers" "$records"
