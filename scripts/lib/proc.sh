# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# CPU time and TCP port probes, shared by the host scripts
# (scripts/lib/cluster.sh, scripts/bench.sh) and the guest scenarios
# (tests/vm/lib*.sh). Source it; it defines functions only. Shell builtins
# only where a benchmark calls them between timed runs: every process
# started under TCG costs.
#
#   sbp_cpu_ticks PID...       user + system ticks of the processes
#   sbp_cpu_children_ticks PID user + system ticks of PID's reaped children
#   sbp_cpu_stat               "BUSY TOTAL" ticks of the whole machine
#   sbp_port_open ADDR PORT    0 once something accepts on ADDR:PORT
#
# Ticks are clock ticks (getconf CLK_TCK per second).

# sbp_stat_fields PID: the fields of /proc/PID/stat after the ")" that
# ends the command name (which may hold spaces and ")"), in the array
# SBP_F: field N of proc(5) is SBP_F[N - 3]. 1 when PID is gone.
sbp_stat_fields() {
	local st
	read -r st 2>/dev/null <"/proc/$1/stat" || return 1
	read -ra SBP_F <<<"${st##*) }"
}

# sbp_cpu_ticks PID...: user + system clock ticks used so far by the PIDs
# (threads included; a PID that is gone counts 0).
sbp_cpu_ticks() {
	local p t=0
	for p in "$@"; do
		sbp_stat_fields "$p" || continue
		# utime (14) and stime (15)
		t=$((t + SBP_F[11] + SBP_F[12]))
	done
	echo "$t"
}

# sbp_cpu_children_ticks PID: user + system clock ticks of the children
# PID has waited for (a subshell's: the commands it ran and reaped).
sbp_cpu_children_ticks() {
	sbp_stat_fields "$1" || { echo 0; return 0; }
	# cutime (16) and cstime (17)
	echo $((SBP_F[13] + SBP_F[14]))
}

# sbp_cpu_stat: "BUSY TOTAL" clock ticks of the whole machine from
# /proc/stat (busy: user, nice, system, irq, softirq, steal; total adds
# idle and iowait).
sbp_cpu_stat() {
	local _c us ni sy id io irq si st
	read -r _c us ni sy id io irq si st _ </proc/stat
	echo "$((us + ni + sy + irq + si + st)) $((us + ni + sy + id + io + irq + si + st))"
}

# sbp_port_open ADDR PORT: 0 once something accepts on ADDR:PORT.
sbp_port_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}
