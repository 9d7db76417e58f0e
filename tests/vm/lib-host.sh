# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034
# (SC2034: the VMH_* globals are results for the callers)
# Host side of the guest harness (tests/vm/run.sh; sourced through
# tests/vm/lib.sh): the guest kernel from Debian's package, the busybox
# initramfs, booting QEMU with the three 9p shares, following the console,
# the timing line. Functions are prefixed vmh_; they run on the host as
# root, one run per results folder (run.sh holds its lock).

# The host's packages (SB_PKGS_VM_HOST) for vmh_check_tools' advice.
# shellcheck source=scripts/lib/packages.sh
. "$VM_LIB_DIR/../../scripts/lib/packages.sh"

# Modules the initramfs loads to reach the host's root over 9p; their
# dependencies are added in load order by modprobe --show-depends.
VMH_INITRD_MODULES=(virtio_pci 9pnet_virtio 9p overlay)

vmh_check_tools() { # -> 0, or lists what is missing and returns 1
	local t missing=()
	for t in qemu-system-x86_64 cpio depmod modprobe dpkg-deb apt-get \
		gzip; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 ||
		missing+=("/bin/busybox (static)")
	if [ ${#missing[@]} -gt 0 ]; then
		vm_log "missing: ${missing[*]}"
		vm_log "install: apt-get install ${SB_PKGS_VM_HOST[*]}"
		return 1
	fi
	return 0
}

vmh_kernel_pkg() { # -> prints the linux-image-*-amd64 package to use
	local pkg
	if [ -n "${SBVM_KERNEL_PKG:-}" ]; then
		echo "$SBVM_KERNEL_PKG"
		return 0
	fi
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -nE 's/^ *Depends: (linux-image-[0-9][^ ]*-amd64)$/\1/p' |
		head -n1)
	if [ -z "$pkg" ]; then
		vm_log "cannot resolve linux-image-amd64 (run apt-get update?)"
		return 1
	fi
	echo "$pkg"
}

# vmh_kernel CACHE: makes sure CACHE/<pkg>/ holds the extracted kernel
# package with a depmod'ed module tree. Sets VMH_KVER, VMH_KROOT (the
# extracted tree), VMH_VMLINUZ. Downloads only when the cache is empty.
vmh_kernel() {
	local cache=$1 pkg dir tmp deb
	pkg=$(vmh_kernel_pkg) || return 1
	dir=$cache/$pkg
	if [ ! -f "$dir/.complete" ]; then
		vm_log "fetching $pkg into $cache (once)"
		rm -rf "$dir" "$dir.tmp"
		mkdir -p "$dir.tmp/deb" || return 1
		tmp=$dir.tmp
		if [ -n "${SBVM_KERNEL_DEB:-}" ]; then
			cp "$SBVM_KERNEL_DEB" "$tmp/deb/" || return 1
		elif ! (cd "$tmp/deb" &&
			apt-get download -q -o APT::Sandbox::User=root \
				"$pkg" >/dev/null); then
			vm_log "apt-get download $pkg failed (apt-get update?)"
			rm -rf "$tmp"
			return 1
		fi
		# shellcheck disable=SC2012 # the one .deb apt-get downloaded
		deb=$(ls "$tmp"/deb/*.deb | head -n1)
		dpkg-deb -x "$deb" "$tmp/root" || return 1
		rm -rf "$tmp/deb"
		mv "$tmp" "$dir" || return 1
	fi
	VMH_KROOT=$dir/root
	# shellcheck disable=SC2012 # the package's one module tree
	VMH_KVER=$(ls "$VMH_KROOT/lib/modules" | head -n1)
	VMH_VMLINUZ=$VMH_KROOT/boot/vmlinuz-$VMH_KVER
	if [ -z "$VMH_KVER" ] || [ ! -f "$VMH_VMLINUZ" ]; then
		vm_log "$dir holds no kernel; remove it and retry"
		return 1
	fi
	if [ ! -f "$dir/.complete" ]; then
		depmod -b "$VMH_KROOT" "$VMH_KVER" || return 1
		touch "$dir/.complete"
	fi
	if [ ! -e "$dir/vmlinux" ] && [ ! -e "$dir/.no-vmlinux" ]; then
		vmh_vmlinux "$VMH_VMLINUZ" "$dir/vmlinux" || {
			vm_log "no PVH kernel inside the bzImage; booting it as is"
			touch "$dir/.no-vmlinux"
		}
	fi
	# The uncompressed ELF boots through its PVH entry and saves the
	# guest decompressing 8 MB of xz under TCG (several seconds).
	if [ -s "$dir/vmlinux" ] && [ "${SBVM_BZIMAGE:-0}" != 1 ]; then
		VMH_VMLINUZ=$dir/vmlinux
	fi
	return 0
}

# vmh_vmlinux BZIMAGE OUT: extracts the xz-compressed ELF kernel inside
# BZIMAGE into OUT when it has a PVH entry note (CONFIG_PVH); 1 otherwise.
vmh_vmlinux() {
	local bz=$1 out=$2 off
	command -v xz >/dev/null 2>&1 || return 1
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | head -n1 | cut -d: -f1)
	[ -n "$off" ] || return 1
	tail -c +$((off + 1)) "$bz" | xz -dc --single-stream >"$out.tmp" \
		2>/dev/null
	# XEN_ELFNOTE_PHYS32_ENTRY (18) is what QEMU's PVH loader looks for.
	if LC_ALL=C readelf -n "$out.tmp" 2>/dev/null |
		grep -qE 'Xen.*(0x00000012|PHYS32_ENTRY)'; then
		mv "$out.tmp" "$out"
		return 0
	fi
	rm -f "$out.tmp"
	return 1
}

# vmh_initrd OUT: writes a busybox initramfs with the 9p/virtio/overlay
# modules of VMH_KROOT/VMH_KVER and tests/vm/init as /init to OUT.
vmh_initrd() {
	local out=$1 tmp rc
	tmp=$(mktemp -d) || return 1
	vmh_initrd_fill "$tmp" &&
		(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) \
			>"$out.$$" &&
		mv "$out.$$" "$out"
	rc=$?
	rm -rf "$tmp" "$out.$$"
	return $rc
}

vmh_initrd_fill() { # DIR: the initramfs tree
	local tmp=$1 m ko verb base dst n=0 seen=
	mkdir -p "$tmp/bin" "$tmp/mods" "$tmp/proc" "$tmp/sys" "$tmp/dev" \
		"$tmp/lower" "$tmp/rw" "$tmp/newroot" || return 1
	cp /bin/busybox "$tmp/bin/busybox" && ln -s busybox "$tmp/bin/sh" &&
		cp "$VM_LIB_DIR/init" "$tmp/init" && chmod 755 "$tmp/init" || return 1
	# modprobe takes one module per call; it prints "insmod /path/x.ko"
	# lines, dependencies first, and nothing for built-in modules.
	for m in "${VMH_INITRD_MODULES[@]}"; do
		modprobe -d "$VMH_KROOT" -S "$VMH_KVER" --show-depends "$m" ||
			return 1
	done >"$tmp/deps" || {
		vm_log "modprobe --show-depends failed"
		return 1
	}
	while read -r verb ko _; do
		[ "$verb" = insmod ] || continue
		base=$(basename "$ko")
		base=${base%.xz}
		case " $seen " in *" $base "*) continue ;; esac
		seen="$seen $base"
		n=$((n + 1))
		dst=$tmp/mods/$(printf %02d $n)-$base
		case $ko in
		*.ko.xz) xz -dc "$ko" >"$dst" ;;
		*.ko) cp "$ko" "$dst" ;;
		*) false ;;
		esac || {
			vm_log "cannot pack module $ko"
			return 1
		}
	done <"$tmp/deps"
	rm -f "$tmp/deps"
}

# vmh_boot OUTDIR TIMEOUT: boots the guest (VMH_VMLINUZ, VMH_INITRD) with
# OUTDIR as the writable share; returns when qemu exits or TIMEOUT seconds
# have passed (then qemu is killed and VMH_TIMED_OUT=1). Prints progress:
# guest lines starting "VM:" or "STEP ", or every console line with
# SBVM_VERBOSE=1. Console goes to OUTDIR/console.log.
vmh_boot() {
	local out=$1 timeout=$2 qpid tpid start now mem=${SBVM_MEM:-2048}
	local smp=${SBVM_SMP:-2}
	VMH_TIMED_OUT=0
	: >"$out/console.log"
	start=$(date +%s)
	# SBVM_QEMU_EXTRA is split into words on purpose.
	# shellcheck disable=SC2086
	nice -n "${SBVM_NICE:-10}" qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -m "$mem" -smp "$smp" \
		-nodefaults -display none -monitor none -no-reboot -nic none \
		${SBVM_QEMU_EXTRA:-} \
		-chardev "file,id=con,path=$out/console.log" -serial chardev:con \
		-kernel "$VMH_VMLINUZ" -initrd "$VMH_INITRD" \
		-append "console=ttyS0 quiet panic=-1 sbvm_init=$VMH_STAGE2 ${SBVM_APPEND:-}" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$VMH_KROOT/lib/modules,mount_tag=kmods,security_model=none,readonly=on" \
		-virtfs "local,path=$out,mount_tag=sbvmout,security_model=none" \
		</dev/null >"$out/qemu.log" 2>&1 9>&- &
	qpid=$!
	vmh_follow "$out/console.log" "$qpid" "$start" 9>&- &
	tpid=$!
	while kill -0 "$qpid" 2>/dev/null; do
		now=$(date +%s)
		if [ $((now - start)) -ge "$timeout" ]; then
			VMH_TIMED_OUT=1
			kill -TERM "$qpid" 2>/dev/null
			sleep 2
			kill -KILL "$qpid" 2>/dev/null
			break
		fi
		sleep 1
	done
	wait "$qpid" 2>/dev/null
	VMH_QEMU_RC=$?
	# tail notices qemu's exit within its 0.2 s poll and prints the rest.
	wait "$tpid" 2>/dev/null
	VMH_ELAPSED=$(($(date +%s) - start))
	return 0
}

# vmh_timing OUTDIR: one line of how long boot and each step took, from
# the guest's clock (OUTDIR/steps, OUTDIR/uptimes).
vmh_timing() {
	awk 'BEGIN { n = 0 }
	FNR == NR { if ($1 == "stage2") s2 = $2; if ($1 == "end") end = $2; next }
	{ t[n] = $1; $1 = ""; name[n++] = substr($0, 2) }
	END {
		line = sprintf("boot %.1fs", s2)
		for (i = 0; i < n; i++) {
			stop = (i + 1 < n) ? t[i + 1] : end
			line = line sprintf(", %s %.1fs", name[i], stop - t[i])
		}
		print line sprintf("; guest total %.1fs", end)
	}' "$1/uptimes" "$1/steps" 2>/dev/null
}

vmh_follow() { # console qpid start: prints progress lines as they come
	local line
	tail -n +1 -s 0.2 -F --pid="$2" "$1" 2>/dev/null | while IFS= read -r line; do
		line=${line%$'\r'}
		if [ "${SBVM_VERBOSE:-0}" = 1 ]; then
			printf '[%4ds] %s\n' $(($(date +%s) - $3)) "$line"
			continue
		fi
		case $line in
		VM:* | STEP\ * | FAIL* | PASS* | SKIP* | INFO\ *)
			printf '[%4ds] %s\n' $(($(date +%s) - $3)) "$line" ;;
		esac
	done
}
