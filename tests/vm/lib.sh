# shellcheck shell=bash disable=SC2034
# (SC2034: the VMH_*/VMG_* globals are results for the callers)
# Helpers shared by the guest harness (tests/vm/run.sh, tests/vm/guest.sh)
# and the scenarios in tests/vm/scenarios/. Source it; it defines functions
# only and sets no shell options.
#
# How a run fits together (docs/vm.md has the long version):
#
#   host: run.sh                       guest (Debian's kernel, TCG)
#   -------------                      -----------------------------
#   vmh_kernel   apt-get download -> .cache/vm/<pkg>/root, vmlinux
#   vmh_initrd   busybox + 9p/virtio/overlay modules -> initrd.img
#   vmh_boot     qemu -nic none  -->   /init (busybox): insmod, mount host /
#                                      over 9p read-only + tmpfs overlay,
#                                      modules (9p "kmods"), results (9p
#                                      "sbvmout", writable) on /sbvm,
#                                      switch_root -> tests/vm/guest.sh
#                                      guest.sh runs ONE scenario, writes
#                                      status + logs to /sbvm, sysrq o
#   reads status, steps, logs from the results folder; a guest still alive
#   at the deadline is killed and the last STEP line says where it hung.
#
# Host-side functions are prefixed vmh_, guest-side ones (for scenarios)
# vmg_.

# ---------------------------------------------------------------------------
# Shared
# ---------------------------------------------------------------------------

# Mount point of the writable results share inside the guest.
VM_GUEST_OUT=/sbvm

vm_log() { # message... -> stderr, prefixed
	echo "vm: $*" >&2
}

vm_die() { # message... -> stderr, exit 2 (usage or setup error)
	echo "vm: error: $*" >&2
	exit 2
}

# ---------------------------------------------------------------------------
# Host side
# ---------------------------------------------------------------------------

# Packages the host needs to boot the guest (Debian 12 names); the full
# list, with what the guest runs, is in scripts/vm-setup-deps.sh.
VMH_PACKAGES=(qemu-system-x86 busybox-static cpio kmod xz-utils binutils)

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
		vm_log "install: apt-get install ${VMH_PACKAGES[*]}"
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
		deb=$(ls "$tmp"/deb/*.deb | head -n1)
		dpkg-deb -x "$deb" "$tmp/root" || return 1
		rm -rf "$tmp/deb"
		mv "$tmp" "$dir" || return 1
	fi
	VMH_KROOT=$dir/root
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
	local tmp=$1 here m ko verb base dst n=0 seen=
	here=$(dirname "${BASH_SOURCE[0]}")
	mkdir -p "$tmp/bin" "$tmp/mods" "$tmp/proc" "$tmp/sys" "$tmp/dev" \
		"$tmp/lower" "$tmp/rw" "$tmp/newroot" || return 1
	cp /bin/busybox "$tmp/bin/busybox" && ln -s busybox "$tmp/bin/sh" &&
		cp "$here/init" "$tmp/init" && chmod 755 "$tmp/init" || return 1
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

# ---------------------------------------------------------------------------
# Guest side (scenarios run as root inside the guest; SBVM_OUT is the
# writable results folder, SBVM_REPO the build tree)
# ---------------------------------------------------------------------------

SBVM_OUT=${SBVM_OUT:-$VM_GUEST_OUT}

vmg_uptime() { # -> seconds since guest boot, one decimal
	local u
	read -r u _ </proc/uptime
	echo "${u%?}"
}

# vmg_step NAME: records progress. The host prints it while the guest runs
# and names the last one when the guest hangs or fails.
vmg_step() {
	VMG_STEP=$*
	echo "STEP $* (t=$(vmg_uptime)s)"
	echo "$(vmg_uptime) $*" >>"$SBVM_OUT/steps"
}

vmg_info() { # message: a line the host shows as progress
	echo "INFO $*"
}

vmg_fail() { # message: the scenario fails here
	echo "FAIL ${VMG_STEP:+[$VMG_STEP] }$*"
	exit 1
}

vmg_run() { # cmd...: runs cmd, fails the scenario (with its output) if it fails
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	[ -n "$out" ] && printf '%s\n' "$out"
	[ $rc -eq 0 ] || vmg_fail "exit status $rc: $*"
}

# vmg_made KIND VALUE: notes something the scenario started or created
# (pid, iqn, iface) in SBVM_OUT/made, so tests/vm/native.sh can undo it
# on a real machine. In the guest, poweroff undoes everything anyway.
vmg_made() {
	echo "$1 $2" >>"$SBVM_OUT/made"
}

vmg_modules() { # module...: loads them all in one modprobe (one index read)
	modprobe -a "$@" || vmg_fail "modprobe -a $*"
}

# vmg_lio_up: loads LIO, TCMU and the iSCSI initiator and target; mounts
# configfs. rtslib's PR folder must exist before the target loads.
vmg_lio_up() {
	mkdir -p /etc/rtslib-fb-target/pr /run/lock/iscsi
	vmg_modules configfs target_core_mod target_core_user \
		target_core_file target_core_iblock iscsi_target_mod \
		iscsi_tcp sd_mod crc32c_generic
	mountpoint -q /sys/kernel/config ||
		mount -t configfs none /sys/kernel/config ||
		vmg_fail "mount configfs"
}

# vmg_dbus_up: a system bus for targetcli <-> tcmu-runner.
vmg_dbus_up() {
	local pid
	mkdir -p /run/dbus
	dbus-uuidgen --ensure=/etc/machine-id || vmg_fail "dbus-uuidgen"
	[ -S /run/dbus/system_bus_socket ] && return 0
	pid=$(dbus-daemon --system --fork --print-pid) ||
		vmg_fail "dbus-daemon"
	vmg_made pid "$pid"
}

# vmg_tcmu_up [HANDLER_DIR]: starts tcmu-runner (handlers from HANDLER_DIR,
# default the runner's own folder), logs into SBVM_OUT/logs/, waits until
# it owns its bus name. Sets VMG_TCMU_PID.
vmg_tcmu_up() {
	local hp=${1:-} i args=()
	mkdir -p "$SBVM_OUT/logs"
	[ -n "$hp" ] && args+=(--handler-path "$hp")
	tcmu-runner "${args[@]}" --tcmu-log-dir "$SBVM_OUT/logs" \
		>>"$SBVM_OUT/logs/tcmu-runner.out" 2>&1 &
	VMG_TCMU_PID=$!
	vmg_made pid "$VMG_TCMU_PID"
	for i in $(seq 1 100); do
		kill -0 "$VMG_TCMU_PID" 2>/dev/null ||
			vmg_fail "tcmu-runner exited: $(tail -n 5 "$SBVM_OUT/logs/tcmu-runner.out")"
		dbus-send --system --print-reply --dest=org.freedesktop.DBus \
			/org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
			string:org.kernel.TCMUService1 2>/dev/null |
			grep -q 'boolean true' && return 0
		sleep 0.1
	done
	vmg_fail "tcmu-runner did not register on the system bus"
}

vmg_tcmu_down() { # stops the tcmu-runner started by vmg_tcmu_up
	[ -n "${VMG_TCMU_PID:-}" ] || return 0
	kill -TERM "$VMG_TCMU_PID" 2>/dev/null
	wait "$VMG_TCMU_PID" 2>/dev/null
	VMG_TCMU_PID=
}

# vmg_targetcli FILE: runs the targetcli commands in FILE (one per line, as
# typed at its prompt) in ONE targetcli start (~5 s under TCG each). The
# output goes to SBVM_OUT/logs/targetcli.log; any error line fails.
vmg_targetcli() {
	local f=$1 log=$SBVM_OUT/logs/targetcli.log out errs
	mkdir -p "$SBVM_OUT/logs"
	{
		echo "set global auto_save_on_exit=false"
		cat "$f"
		echo "exit"
	} >"$f.batch"
	echo "== targetcli < $f" >>"$log"
	out=$(TERM=dumb targetcli <"$f.batch" 2>&1)
	printf '%s\n' "$out" >>"$log"
	# Batch mode exits 0 even when a command fails; its messages are the
	# only sign. The missing-preferences warning of a first start is not.
	errs=$(printf '%s\n' "$out" | grep -v 'Could not load preferences' |
		grep -iE 'error|no such|not found|not valid|invalid|unknown|could not|cannot|failed|exists')
	if [ -n "$errs" ]; then
		printf '%s\n' "$errs"
		vmg_fail "targetcli reported an error running $f"
	fi
}

# vmg_iscsi_login IQN [INITIATOR]: starts iscsid (once), discovers
# 127.0.0.1:3260 and logs in to IQN, as INITIATOR when given (through an
# open-iscsi interface "sbvm", so /etc/iscsi/initiatorname.iscsi is left
# alone). Sets VMG_DEV to the /dev/sdX of LUN 0 of IQN.
vmg_iscsi_login() {
	local iqn=$1 initiator=${2:-} portal=127.0.0.1 i sess dev iface=()
	VMG_DEV=
	mkdir -p /run/lock/iscsi /etc/iscsi
	if [ ! -s /etc/iscsi/initiatorname.iscsi ]; then
		echo "InitiatorName=iqn.2003-01.org.example.sbvm:initiator" \
			>/etc/iscsi/initiatorname.iscsi
	fi
	if ! pgrep -x iscsid >/dev/null; then
		iscsid || vmg_fail "iscsid"
		for i in $(seq 1 50); do
			[ -s /run/iscsid.pid ] && break
			sleep 0.1
		done
		[ -s /run/iscsid.pid ] && vmg_made pid "$(cat /run/iscsid.pid)"
	fi
	if [ -n "$initiator" ]; then
		if ! iscsiadm -m iface -I sbvm >/dev/null 2>&1; then
			iscsiadm -m iface -I sbvm -o new >/dev/null ||
				vmg_fail "iscsiadm iface sbvm"
			vmg_made iface sbvm
		fi
		iscsiadm -m iface -I sbvm -o update \
			-n iface.initiatorname -v "$initiator" >/dev/null ||
			vmg_fail "iscsiadm iface sbvm initiatorname"
		iface=(-I sbvm)
	fi
	VMG_ISCSI_IFACE=("${iface[@]}")
	iscsiadm -m discovery -t st -p "$portal" "${iface[@]}" ||
		vmg_fail "iSCSI discovery on $portal"
	vmg_made iqn "$iqn"
	iscsiadm -m node -T "$iqn" -p "$portal" "${iface[@]}" --login ||
		vmg_fail "iSCSI login to $iqn"
	for i in $(seq 1 100); do
		for sess in /sys/class/iscsi_session/session*; do
			[ "$(cat "$sess/targetname" 2>/dev/null)" = "$iqn" ] ||
				continue
			dev=$(ls "$sess"/device/target*/*:*:*:0/block 2>/dev/null |
				head -n1)
			if [ -n "$dev" ] && [ -b "/dev/$dev" ]; then
				VMG_DEV=/dev/$dev
				return 0
			fi
		done
		sleep 0.1
	done
	vmg_fail "no block device appeared for $iqn"
}

vmg_scsi_id() { # /dev/sdX -> "VENDOR / MODEL" from sysfs, trimmed
	local d=/sys/block/${1#/dev/}/device v m
	read -r v <"$d/vendor"
	read -r m <"$d/model"
	echo "$v / $m"
}

vmg_iscsi_logout() { # IQN: logs out of the session vmg_iscsi_login made
	iscsiadm -m node -T "$1" -p 127.0.0.1 "${VMG_ISCSI_IFACE[@]}" \
		--logout || vmg_fail "iSCSI logout from $1"
}

# vmg_fio_verify DEV NAME [fio options...]: a verified fio job on DEV with
# its JSON output in SBVM_OUT/results/fio-NAME.json; fails on a non-zero
# exit status or error counter, or a job that did not write and read back.
vmg_fio_verify() {
	local dev=$1 name=$2 json rc
	shift 2
	mkdir -p "$SBVM_OUT/results"
	json=$SBVM_OUT/results/fio-$name.json
	fio --name="$name" --filename="$dev" --direct=1 --ioengine=libaio \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		--output-format=json --output="$json" "$@"
	rc=$?
	[ $rc -eq 0 ] || vmg_fail "fio $name exited $rc (see $json)"
	vmg_fio_check "$json"
	vmg_info "fio $name: $(vmg_fio_summary "$json")"
}

vmg_fio_summary() { # json: one line of bandwidth and IOPS
	awk '
	/"read" *: *\{/  { sect = "read" }
	/"write" *: *\{/ { sect = "write" }
	/"bw" *:/ && sect != "" && !(sect in bw) {
		v = $0; gsub(/[^0-9]/, "", v); bw[sect] = v }
	/"iops" *:/ && sect != "" && !(sect in iops) {
		v = $0; sub(/.*: */, "", v); sub(/,.*/, "", v); iops[sect] = v }
	END {
		printf "read %d KiB/s %.0f IOPS, write %d KiB/s %.0f IOPS",
		    bw["read"], iops["read"], bw["write"], iops["write"]
	}' "$1"
}

# vmg_port_open ADDR PORT: 0 once something accepts on ADDR:PORT.
vmg_port_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# vmg_cluster_up DATA_ROOT N [REPLICAS]: N spanblkd (from SBVM_REPO/build)
# on 127.0.0.2, 127.0.0.3, ... port 7400 (every 127/8 address is on lo),
# data in DATA_ROOT/nodeI. Writes the cluster file and secret where the
# handler looks by default (/etc/spanblk/, in the guest's tmpfs overlay),
# so targetcli_snippets/ apply unchanged. Sets VMG_NODE_PIDS, VMG_NODES.
vmg_cluster_up() {
	local root=$1 n=$2 replicas=${3:-2} i
	mkdir -p /etc/spanblk "$root" "$SBVM_OUT/logs"
	head -c 32 /dev/urandom | base64 >/etc/spanblk/secret
	chmod 600 /etc/spanblk/secret
	{
		echo "[cluster]"
		echo "replicas = $replicas"
		echo "secret_file = /etc/spanblk/secret"
		for i in $(seq 1 "$n"); do
			printf '[node.%s]\naddress = 127.0.0.%s\nport = 7400\n' \
				"$i" $((i + 1))
		done
	} >/etc/spanblk/cluster.conf
	cp /etc/spanblk/cluster.conf "$SBVM_OUT/logs/cluster.conf"
	VMG_NODES=$n
	VMG_NODE_ROOT=$root
	for i in $(seq 1 "$n"); do
		mkdir -p "$root/node$i"
		cat >"$root/node$i.conf" <<CONF
[node]
id = $i
listen = 127.0.0.$((i + 1))
port = 7400
data_dir = $root/node$i
secret_file = /etc/spanblk/secret
CONF
	done
	vmg_nodes_start
}

vmg_nodes_start() { # (re)starts every node of vmg_cluster_up, waits for ports
	local i
	VMG_NODE_PIDS=()
	for i in $(seq 1 "$VMG_NODES"); do
		vmg_node_start "$i"
	done
}

# vmg_node_addr I: the address node I listens on (VMG_NODE_ADDRS, else
# 127.0.0.I+1 as vmg_cluster_up sets them).
vmg_node_addr() {
	local a=${VMG_NODE_ADDRS[$(($1 - 1))]:-}
	echo "${a:-127.0.0.$(($1 + 1))}"
}

# vmg_node_start I: (re)starts node I with its config, waits for its port;
# its pid goes to VMG_NODE_PIDS[I-1].
vmg_node_start() {
	local i=$1 pid addr
	addr=$(vmg_node_addr "$i")
	"$SBVM_REPO/build/spanblkd" -c "$VMG_NODE_ROOT/node$i.conf" \
		>>"$SBVM_OUT/logs/node$i.log" 2>&1 </dev/null &
	pid=$!
	VMG_NODE_PIDS[$((i - 1))]=$pid
	vmg_made pid "$pid"
	for _ in $(seq 1 200); do
		vmg_port_open "$addr" 7400 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	tail -n 5 "$SBVM_OUT/logs/node$i.log"
	vmg_fail "spanblkd $i did not start listening on $addr:7400"
}

# vmg_node_stop I: SIGTERM node I and wait; fails unless it exits 0.
vmg_node_stop() {
	local pid=${VMG_NODE_PIDS[$(($1 - 1))]} rc
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	[ $rc -eq 0 ] || vmg_fail "spanblkd $1 (pid $pid) exited $rc"
}

# vmg_rxe_up N: soft-RoCE for N storage nodes in the guest's root network
# namespace (rxe on lo does not route; namespaces were refused): veth pair
# sbrI/sbpI with 10.77.I.1/24 on sbrI and rxe device rxe(I-1) on sbrI, for
# I = 1..N. Exits 77 (skip) with the reason when this kernel has no
# rdma_rxe or the rdma tool is missing.
vmg_rxe_up() {
	local n=$1 i err
	command -v rdma >/dev/null ||
		{ echo "SKIP no 'rdma' tool (iproute2) on this host"; exit 77; }
	if ! err=$(modprobe -a rdma_rxe ib_uverbs rdma_ucm veth 2>&1); then
		echo "SKIP rdma_rxe not available in this kernel: $err"
		exit 77
	fi
	for i in $(seq 1 "$n"); do
		vmg_run ip link add "sbr$i" type veth peer name "sbp$i"
		vmg_run ip addr add "10.77.$i.1/24" dev "sbr$i"
		vmg_run ip link set "sbr$i" up
		vmg_run ip link set "sbp$i" up
		vmg_run rdma link add "rxe$((i - 1))" type rxe netdev "sbr$i"
		vmg_made rxe "rxe$((i - 1))"
		vmg_made netdev "sbr$i"
	done
	for i in $(seq 1 "$n"); do
		[ -d "/sys/class/infiniband/rxe$((i - 1))" ] ||
			vmg_fail "rxe$((i - 1)) not in /sys/class/infiniband"
	done
	[ -c /dev/infiniband/rdma_cm ] || vmg_fail "no /dev/infiniband/rdma_cm"
}

# vmg_rdma_cluster_up DATA_ROOT N REPLICAS [NO_RDMA_NODE]: N spanblkd on
# the rxe addresses of vmg_rxe_up (10.77.I.1, port 7400), each with
# rdma_device rxe(I-1) except node NO_RDMA_NODE; cluster file and secret
# in /etc/spanblk/ as vmg_cluster_up. With VMG_RDMA_CTL_LOOPBACK=1 the TCP
# control path goes on loopback instead (127.0.0.I+1) and only the RDMA
# listener is on 10.77.I.1 (rdma_addr), so control survives sbrI going
# down (rdma_link). Returns once every node with a device logs its RDMA
# listener (the TCP port opens first; the listener's line follows at once).
vmg_rdma_cluster_up() {
	local root=$1 n=$2 replicas=$3 skip=${4:-0} i
	mkdir -p /etc/spanblk "$root" "$SBVM_OUT/logs"
	head -c 32 /dev/urandom | base64 >/etc/spanblk/secret
	chmod 600 /etc/spanblk/secret
	VMG_NODE_ADDRS=()
	{
		echo "[cluster]"
		echo "replicas = $replicas"
		echo "secret_file = /etc/spanblk/secret"
		echo "rdma = on"
		for i in $(seq 1 "$n"); do
			printf '[node.%s]\naddress = %s\nport = 7400\n' \
				"$i" "$(vmg_rdma_ctl_addr "$i")"
		done
	} >/etc/spanblk/cluster.conf
	cp /etc/spanblk/cluster.conf "$SBVM_OUT/logs/cluster.conf"
	VMG_NODES=$n
	VMG_NODE_ROOT=$root
	for i in $(seq 1 "$n"); do
		VMG_NODE_ADDRS+=("$(vmg_rdma_ctl_addr "$i")")
		mkdir -p "$root/node$i"
		vmg_rdma_node_conf "$i" "$([ "$i" = "$skip" ] || echo "rxe$((i - 1))")"
	done
	vmg_nodes_start
	for i in $(seq 1 "$n"); do
		[ "$i" = "$skip" ] && continue
		vmg_rdma_listening "$i"
	done
}

# vmg_rdma_listening I: waits (5 s) for node I's log to show its RDMA
# listener on rxe(I-1); fails the scenario if it does not.
vmg_rdma_listening() {
	local i=$1
	for _ in $(seq 1 50); do
		grep -q "rdma: device rxe$((i - 1)), listening" \
			"$SBVM_OUT/logs/node$i.log" && return 0
		sleep 0.1
	done
	tail -n 5 "$SBVM_OUT/logs/node$i.log"
	vmg_fail "node $i has no RDMA listener"
}

# vmg_rdma_ctl_addr I: node I's TCP control address: 10.77.I.1, or
# 127.0.0.I+1 with VMG_RDMA_CTL_LOOPBACK=1.
vmg_rdma_ctl_addr() {
	if [ "${VMG_RDMA_CTL_LOOPBACK:-0}" = 1 ]; then
		echo "127.0.0.$(($1 + 1))"
	else
		echo "10.77.$1.1"
	fi
}

# vmg_rdma_node_conf I [DEVICE]: writes node I's config; RDMA only with
# DEVICE (listening on 10.77.I.1 whatever the control address).
vmg_rdma_node_conf() {
	local i=$1 dev=${2:-}
	{
		cat <<CONF
[node]
id = $i
listen = $(vmg_rdma_ctl_addr "$i")
port = 7400
data_dir = $VMG_NODE_ROOT/node$i
secret_file = /etc/spanblk/secret
CONF
		[ -z "$dev" ] || echo "rdma_device = $dev"
		[ -z "$dev" ] || echo "rdma_addr = 10.77.$i.1"
	} >"$VMG_NODE_ROOT/node$i.conf"
	cp "$VMG_NODE_ROOT/node$i.conf" "$SBVM_OUT/logs/node$i.conf"
}

# vmg_counters: takes one `spanblkctl counters` snapshot for
# vmg_node_counter_of; fails when a node does not answer.
vmg_counters() {
	VMG_COUNTERS=$("$SBVM_REPO/build/spanblkctl" counters 2>&1) ||
		vmg_fail "spanblkctl counters: $VMG_COUNTERS"
}

# vmg_node_counter_of I COLUMN: one column of the last vmg_counters
# snapshot for node I (id I).
vmg_node_counter_of() {
	local out=$VMG_COUNTERS
	printf '%s\n' "$out" | awk -v col="$2" -v id="$1" '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
	$1 == id && $2 == "up" && c { print $c; found = 1 }
	END { exit !found }' ||
		vmg_fail "no column $2 for node $1 in spanblkctl counters: $out"
}

vmg_nodes_stop() { # SIGTERM every node; fails if one does not exit 0
	local p rc bad=0
	for p in "${VMG_NODE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${VMG_NODE_PIDS[@]}"; do
		wait "$p"
		rc=$?
		[ $rc -eq 0 ] || { echo "spanblkd pid $p exited $rc"; bad=1; }
	done
	VMG_NODE_PIDS=()
	[ $bad -eq 0 ] || vmg_fail "a storage node did not stop cleanly"
}

# vmg_snippet FILE: the targetcli commands of a targetcli_snippets/ file
# (comments and blank lines dropped), on stdout.
vmg_snippet() {
	grep -vE '^[[:space:]]*(#|$)' "$SBVM_REPO/targetcli_snippets/$1" ||
		vmg_fail "no commands in targetcli_snippets/$1"
}

# vmg_fio_check JSON: asserts on fio's JSON: every job reports error 0,
# moved bytes both ways (a verified job reads back what it wrote) and no
# verify error; prints nothing when all is well, fails the scenario
# otherwise.
vmg_fio_check() {
	local why
	why=$(python3 - "$1" <<'PY'
import json, sys
try:
    with open(sys.argv[1]) as f:
        text = f.read()
    # fio may print warnings before the JSON document
    d = json.loads(text[text.index("{"):])
except Exception as e:
    print("unreadable fio JSON: %s" % e)
    sys.exit(0)
jobs = d.get("jobs", [])
if not jobs:
    print("no jobs in fio JSON")
for j in jobs:
    n = j.get("jobname", "?")
    if j.get("error", 1) != 0:
        print("job %s: error %s" % (n, j.get("error")))
    if j.get("total_err", 0) != 0:
        print("job %s: total_err %s" % (n, j.get("total_err")))
    w = j.get("write", {}).get("io_bytes", 0)
    r = j.get("read", {}).get("io_bytes", 0)
    if w <= 0:
        print("job %s: wrote nothing" % n)
    if r <= 0:
        print("job %s: read nothing (no verify pass)" % n)
PY
)
	[ -z "$why" ] || vmg_fail "fio $(basename "$1"): $why"
}

# vmg_node_counter COLUMN: the sum over every node of one column of
# `spanblkctl counters` (READS, WRITES, FLUSHES, UNMAPS, CAWS, BYTES_READ,
# BYTES_WRITTEN, ...); fails when a node does not answer.
vmg_node_counter() {
	local col=$1 out
	out=$("$SBVM_REPO/build/spanblkctl" counters 2>&1) ||
		vmg_fail "spanblkctl counters: $out"
	printf '%s\n' "$out" | awk -v col="$col" '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
	$2 == "up" && c { sum += $c; n++ }
	END { if (!c || !n) exit 1; printf "%d\n", sum }' ||
		vmg_fail "no column $col in spanblkctl counters: $out"
}

# vmg_node_bytes: bytes the storage nodes' data folders occupy on disk
# (allocated blocks, so holes punched by UNMAP do not count).
vmg_node_bytes() {
	local i total=0 b
	for i in $(seq 1 "$VMG_NODES"); do
		b=$(du -s -B1 "$VMG_NODE_ROOT/node$i" | cut -f1)
		total=$((total + b))
	done
	echo "$total"
}

# vmg_spanblk_commands FILE: writes the targetcli commands of
# targetcli_snippets/backstore.txt and iscsi-target.txt to FILE, as users
# paste them (`grep -v '^#' FILE | targetcli`), so a scenario can add its
# own commands and still configure everything in ONE targetcli start. Sets
# VMG_IQN, VMG_INITIATOR (the snippet's ACL) and VMG_SO (the backstore's
# name).
vmg_spanblk_commands() {
	local f=$1
	{
		grep -v '^#' "$SBVM_REPO/targetcli_snippets/backstore.txt"
		grep -v '^#' "$SBVM_REPO/targetcli_snippets/iscsi-target.txt"
	} >"$f" || vmg_fail "cannot read targetcli_snippets/"
	VMG_IQN=$(sed -nE 's|^/iscsi create ([^ ]+)$|\1|p' "$f" | head -n1)
	VMG_INITIATOR=$(sed -nE 's|^.*/acls create ([^ ]+)$|\1|p' "$f" |
		head -n1)
	VMG_SO=$(sed -nE 's|^/backstores/user:spanblk create name=([^ ]+) .*|\1|p' \
		"$f" | head -n1)
	[ -n "$VMG_IQN" ] || vmg_fail "no '/iscsi create IQN' in the snippets"
	[ -n "$VMG_SO" ] || vmg_fail "no user:spanblk backstore in the snippets"
}

# vmg_target_check IQN: fails unless configfs shows IQN's portal group
# enabled, its portal on 127.0.0.1:3260 and a LUN 0.
vmg_target_check() {
	local tpg=/sys/kernel/config/target/iscsi/$1/tpgt_1
	[ "$(cat "$tpg/enable" 2>/dev/null)" = 1 ] ||
		vmg_fail "target portal group of $1 not enabled"
	[ -d "$tpg/np/127.0.0.1:3260" ] || vmg_fail "$1: no portal 127.0.0.1:3260"
	[ -d "$tpg/lun/lun_0" ] || vmg_fail "$1: no LUN 0"
}

# vmg_spanblk_check: after vmg_spanblk_commands' commands ran, checks
# configfs for the snippet's portal, LUN and backstore.
vmg_spanblk_check() {
	vmg_target_check "$VMG_IQN"
	ls -d /sys/kernel/config/target/core/user_*/"$VMG_SO" >/dev/null \
		2>&1 || vmg_fail "no user:spanblk backstore '$VMG_SO' in configfs"
}

# vmg_spanblk_target: applies targetcli_snippets/backstore.txt and
# iscsi-target.txt as users paste them (both files in one targetcli
# start), checks configfs for the portal, LUN and backstore. Sets what
# vmg_spanblk_commands sets.
vmg_spanblk_target() {
	local f=/run/spanblk.tcli
	vmg_spanblk_commands "$f"
	vmg_targetcli "$f"
	vmg_spanblk_check
}

# vmg_handler_dir DIR FILE...: a folder for tcmu-runner --handler-path
# holding links to the handler FILEs (handler_NAME.so), so the build's
# handler and tcmu-runner's own (user:qcow, say) load in one runner.
vmg_handler_dir() {
	local dir=$1 f
	shift
	mkdir -p "$dir"
	for f in "$@"; do
		[ -f "$f" ] || vmg_fail "no handler $f"
		ln -sf "$f" "$dir/$(basename "$f")" || vmg_fail "link $f"
	done
}

# vmg_cpu_stat: "BUSY TOTAL" jiffies of the whole guest from /proc/stat
# (busy: user, nice, system, irq, softirq, steal; total adds idle, iowait).
# Shell builtins only: it runs between timed runs, and every process
# started under TCG costs.
vmg_cpu_stat() {
	local _c us ni sy id io irq si st
	read -r _c us ni sy id io irq si st _ </proc/stat
	echo "$((us + ni + sy + irq + si + st)) $((us + ni + sy + id + io + irq + si + st))"
}

# vmg_cpu_ticks PID...: user + system clock ticks used so far by the
# PIDs (threads included; a PID that is gone counts 0).
vmg_cpu_ticks() {
	local p t=0 st f
	for p in "$@"; do
		read -r st 2>/dev/null <"/proc/$p/stat" || continue
		# After the ")" that ends the command name, field 3 (state)
		# comes first: utime (14) and stime (15) are at 11 and 12.
		read -ra f <<<"${st##*) }"
		t=$((t + f[11] + f[12]))
	done
	echo "$t"
}

# vmg_fio_kv JSON...: for each of fio's JSON outputs, one line of
# key=value of its first job (iops, mb_s, mib_s, lat_p50_us, lat_p99_us,
# errors, client_cpu_pct) for the direction the job moved data in;
# "errors" adds fio's error and total_err. One python start for all (it
# takes seconds under TCG). Fails on unreadable JSON.
vmg_fio_kv() {
	python3 - "$@" <<'PY' || vmg_fail "unreadable fio JSON in: $*"
import json, sys
for path in sys.argv[1:]:
    text = open(path).read()
    j = json.loads(text[text.index("{"):])["jobs"][0]
    k = "write" if j["write"]["io_bytes"] > j["read"]["io_bytes"] else "read"
    d = j[k]
    pct = d.get("clat_ns", {}).get("percentile", {})
    p50 = pct.get("50.000000", 0) / 1000.0
    p99 = pct.get("99.000000", 0) / 1000.0
    print("iops=%.0f mb_s=%.2f mib_s=%.2f lat_p50_us=%.0f lat_p99_us=%.0f "
          "errors=%d client_cpu_pct=%.1f" % (
              d["iops"], d["bw_bytes"] / 1e6, d["bw_bytes"] / 2**20, p50,
              p99, j.get("error", 0) + j.get("total_err", 0),
              j.get("usr_cpu", 0) + j.get("sys_cpu", 0)))
PY
}
