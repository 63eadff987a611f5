#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs a command as root inside a throwaway virtual machine whose kernel has an OpenVPN data channel module,
# for the tests of data-channel: kernel on a host whose own kernel has none.
#
#   test/dco/vm.sh COMMAND...     exit status: the command's
#
# CVPN_VM_KERNEL picks the machine's kernel and module:
#   dco-v2 (default)  Debian 12's own kernel (linux-image-amd64) with the out-of-tree ovpn-dco-v2 module,
#                     built from Debian's openvpn-dco-dkms against that kernel's headers
#   ovpn              the newest kernel of Debian 13's backports (trixie-backports linux-image-amd64), whose
#                     own ovpn module (Linux 6.16 and later) speaks the upstream "ovpn" netlink family
# Booted by qemu (KVM when asked with CVPN_VM_KVM=1 and /dev/kvm can run it, else emulation). Its root file
# system is this host's, read-only through 9p with a tmpfs over it, so it runs the same programs and this
# working tree; it has no network card (the tests build theirs in namespaces inside). Everything it needs is
# downloaded (apt, signatures checked against the host's Debian archive keyring) and built once into
# $CVPN_DCO_KIT (default build/dco-vm, or build/ovpn-vm). Output of the command appears on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
kernel=${CVPN_VM_KERNEL:-dco-v2}
case "$kernel" in
dco-v2) kit=${CVPN_DCO_KIT:-$root/build/dco-vm} ;;
ovpn) kit=${CVPN_DCO_KIT:-$root/build/ovpn-vm} ;;
*) echo "vm.sh: CVPN_VM_KERNEL is dco-v2 or ovpn, not $kernel" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "vm.sh needs root (apt-get, module build)" >&2; exit 2; }
[ $# -gt 0 ] || { echo "usage: $0 COMMAND..." >&2; exit 2; }

need_pkgs=()
for p in qemu-system-x86 busybox-static cpio kmod xz-utils; do
	dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# The kernel the kit is for: whatever linux-image-amd64 points at today (once fetched, the kit keeps it).
kit_ready() { [ -f "$kit/ready" ] && [ -f "$kit/initrd-modules" ]; }
build_kit_dco_v2() {
	local abi dl mods
	abi=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n 1)
	[ -n "$abi" ] || { echo "vm.sh: cannot tell which kernel linux-image-amd64 is" >&2; return 1; }
	echo "vm.sh: building the test machine's kit for kernel $abi in $kit (once)" >&2
	rm -rf "$kit"
	mkdir -p "$kit/deb" "$kit/root"
	# the headers for the module build go where kbuild expects them (/usr/src); they do not touch the running
	# kernel
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "linux-headers-$abi" >/dev/null
	(cd "$kit/deb" && apt-get download -q "linux-image-$abi" openvpn-dco-dkms >/dev/null 2>&1)
	for d in "$kit"/deb/*.deb; do dpkg-deb -x "$d" "$kit/root"; done
	dl=$(ls -d "$kit"/root/usr/src/ovpn-dco-*)
	make -s -C "$dl" KERNEL_SRC="/usr/src/linux-headers-$abi" -j"$(nproc)" >"$kit/module-build.log" 2>&1 ||
		{ echo "vm.sh: the module did not build (see $kit/module-build.log)" >&2; return 1; }
	mods="$kit/root/lib/modules/$abi"
	mkdir -p "$mods/extra"
	cp "$dl/drivers/net/ovpn-dco/ovpn-dco-v2.ko" "$mods/extra/"
	depmod -b "$kit/root" "$abi"
	cp "$kit/root/boot/vmlinuz-$abi" "$kit/vmlinuz"
	echo "virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet" \
		"9pnet_virtio 9p overlay" >"$kit/initrd-modules"
	echo "$abi" >"$kit/ready"
}
# Debian 13's backports through apt with a state of their own (the host's sources stay as they are); apt
# checks the suite's signature against the host's debian-archive-keyring.
build_kit_ovpn() {
	local abi apt_state mods
	rm -rf "$kit"
	apt_state="$kit/apt"
	mkdir -p "$kit/deb" "$kit/root" "$apt_state/lists/partial" "$apt_state/cache/archives/partial"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${CVPN_VM_MIRROR:-http://deb.debian.org/debian}" \
		"trixie-backports main" >"$apt_state/sources.list"
	local opts=(-o "Dir::Etc::SourceList=$apt_state/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt_state/lists" -o "Dir::Cache=$apt_state/cache" -o APT::Sandbox::User=root)
	apt-get -q "${opts[@]}" update >/dev/null
	abi=$(apt-cache "${opts[@]}" depends linux-image-amd64 |
		sed -n 's/.*Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n 1)
	[ -n "$abi" ] || { echo "vm.sh: cannot tell which kernel trixie-backports' linux-image-amd64 is" >&2; return 1; }
	echo "vm.sh: building the test machine's kit for kernel $abi (trixie-backports) in $kit (once)" >&2
	(cd "$kit/deb" && apt-get -q "${opts[@]}" download "linux-base-$abi" "linux-binary-$abi" "linux-modules-$abi" \
		>/dev/null)
	for d in "$kit"/deb/*.deb; do dpkg-deb -x "$d" "$kit/root"; done
	mods="$kit/root/usr/lib/modules/$abi"
	[ -f "$mods/kernel/drivers/net/ovpn/ovpn.ko.xz" ] || [ -f "$mods/kernel/drivers/net/ovpn/ovpn.ko" ] ||
		{ echo "vm.sh: kernel $abi has no ovpn module" >&2; return 1; }
	[ -e "$kit/root/lib" ] || ln -s usr/lib "$kit/root/lib"
	depmod -b "$kit/root" "$abi"
	cp "$mods/vmlinuz" "$kit/vmlinuz"
	echo "netfs 9pnet 9pnet_virtio 9p overlay" >"$kit/initrd-modules"
	rm -rf "$kit/deb" "$apt_state/cache"
	echo "$abi" >"$kit/ready"
}
kit_ready || "build_kit_${kernel//-/_}"

# The initramfs, every run (it is small, and vm-init may have changed): busybox and what mounting the host's
# root over virtio 9p with a tmpfs on top takes.
build_initrd() {
	local mods dir="$kit/initrd" m f
	mods=$(realpath "$kit/root/lib/modules/$(cat "$kit/ready")")
	rm -rf "$dir"
	mkdir -p "$dir/bin" "$dir/m" "$dir/proc" "$dir/sys" "$dir/dev"
	cp /bin/busybox "$dir/bin/"
	for m in $(cat "$kit/initrd-modules"); do
		f=$(find "$mods/kernel" -name "$m.ko" -o -name "$m.ko.xz" | head -n 1)
		[ -n "$f" ] || { echo "vm.sh: module $m missing from the kernel package" >&2; return 1; }
		case "$f" in
		*.xz) xz -dc "$f" >"$dir/m/$m.ko" ;; # busybox's insmod reads plain modules
		*) cp "$f" "$dir/m/" ;;
		esac
	done
	cp "$kit/initrd-modules" "$dir/m/order"
	cp test/dco/vm-init "$dir/init"
	chmod +x "$dir/init"
	(cd "$dir" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$kit/initrd.gz"
}
build_initrd

# One run: the command goes in a script on the results share, which the machine also writes the exit status to.
run=$(mktemp -d "/tmp/cvpn-vm.XXXXXX")
trap 'rm -rf "$run"' EXIT
{
	echo '#!/bin/sh'
	printf 'cd %q || exit 2\n' "$root"
	printf '%q ' "$@"
	echo
} >"$run/cmd.sh"
chmod +x "$run/cmd.sh"
accel=tcg,thread=multi
# KVM only when it can start this kernel (some hosts expose a /dev/kvm that runs only their own guests)
[ -w /dev/kvm ] && [ "${CVPN_VM_KVM:-0}" = 1 ] && accel=kvm
# A boot that stops early without starting the command (seen about once in 15 boots of the 7.3 kernel under
# TCG: a panic in an interrupt at ~1.4 s) is booted once more: the command never ran, so nothing is
# retried. Not a machine that ran out of time: that one would only do it again.
for attempt in 1 2; do
	rm -f "$run/started" "$run/rc"
	boot_start=$(date +%s)
	timeout -k 10 "${CVPN_VM_TIMEOUT:-1500}" qemu-system-x86_64 -machine q35 -accel "$accel" -smp "$(nproc)" \
		-m "${CVPN_VM_MEM:-2048}" -nographic -no-reboot -nic none \
		-kernel "$kit/vmlinuz" -initrd "$kit/initrd.gz" \
		-append "console=ttyS0 quiet panic=-1 cvpn_run=/run/out/cmd.sh" \
		-fsdev local,id=r,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=r,mount_tag=hostroot \
		-fsdev "local,id=m,path=$(realpath "$kit/root/lib/modules"),security_model=none,readonly=on" \
		-device virtio-9p-pci,fsdev=m,mount_tag=hostmods \
		-fsdev "local,id=o,path=$run,security_model=none" -device virtio-9p-pci,fsdev=o,mount_tag=hostout |
		tee "$run/console" | sed -u -e '/^\[ *[0-9.]*\] /d' -e 's/\x1bc//g' -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' \
			-e '/^c*SeaBIOS\|^Booting from ROM/d' || true
	[ -f "$run/started" ] || [ "$attempt" = 2 ] || [ $(( $(date +%s) - boot_start )) -gt 120 ] && break
	echo "vm.sh: the machine stopped before the command started; booting it again. The end of its console:" >&2
	tail -n 40 "$run/console" >&2
done
if [ ! -f "$run/rc" ]; then
	echo "vm.sh: the machine stopped without the command's exit status; the end of its console:" >&2
	tail -n 40 "$run/console" >&2
	exit 1
fi
exit "$(cat "$run/rc")"
