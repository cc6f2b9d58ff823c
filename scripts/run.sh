#!/usr/bin/env bash
# run.sh -- the main job (make run): boot the image in QEMU and show its
# serial console.
#
# Everything lives in a private temporary folder that is removed on exit;
# QEMU is always stopped.  ARCH=aarch64 boots the other image.  Options for
# the image go in AGENT_OPTS (agent.cfg syntax); the default powers the VM
# off once boot completes.
#
# While the agent (issue 7) is not there yet this shows the takeover report:
# memory, DMA pool, ACPI tables, CPU tables, interrupt controller.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
arch=${ARCH:-x86_64}
opts=${AGENT_OPTS:-test.poweroff=1}
work=$(mktemp -d "${TMPDIR:-/tmp}/vsock-agent-run.XXXXXX")
qemu_pid=
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

case $arch in
x86_64)
	efi=BOOTX64.EFI
	cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd"
	qemu=(qemu-system-x86_64 -M q35 -cpu max
		-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
		-drive if=pflash,format=raw,unit=1,file="$work/vars.fd"
		-drive format=raw,file=fat:rw:"$work/esp"
		-device isa-debug-exit,iobase=0xf4,iosize=0x04) ;;
aarch64)
	efi=BOOTAA64.EFI
	cp /usr/share/AAVMF/AAVMF_VARS.fd "$work/vars.fd"
	qemu=(qemu-system-aarch64 -M virt -cpu cortex-a57
		-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd
		-drive if=pflash,format=raw,unit=1,file="$work/vars.fd"
		-drive if=none,id=esp,format=raw,file=fat:rw:"$work/esp"
		-device virtio-blk-pci,drive=esp) ;;
*) echo "run.sh: ARCH must be x86_64 or aarch64" >&2; exit 2 ;;
esac

mkdir -p "$work/esp/EFI/BOOT"
cp "$top/build/$arch/$efi" "$work/esp/EFI/BOOT/$efi"
printf '%s\n' "$opts" >"$work/esp/agent.cfg"
echo "run: booting build/$arch/$efi under QEMU (TCG) with: $opts"
"${qemu[@]}" -m 256M -display none -monitor none -no-reboot -nic none \
	-serial stdio </dev/null | tr -d '\r' | sed -e 's/\x1b\[[0-9;=]*[A-Za-z]//g' &
qemu_pid=$!
wait "$qemu_pid" && status=0 || status=$?
qemu_pid=
echo "run: QEMU exited with status $status"
