#!/bin/sh
# /init of a lab guest (busybox sh). Runs the scenarios named on the kernel
# command line (lab.scen=1,2,3 lab.dl=on|off) and prints each result as a
# marker line, "@@LAB <scenario> key=value ...", parsed on the host by
# lab/report.ts. Every RT load here ends by itself; the guest powers off at the
# end whatever happened (and qemu runs under a timeout on the host).
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /run /tmp /var/log
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1

arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -1; }
SCEN=$(arg lab.scen)
DL=$(arg lab.dl)
# lab.b: the backends scenario 2 runs, in order (repeats allowed, for flake hunting).
BACKENDS=$(arg lab.b | tr ',' ' ')
# lab.dlsum_ms: the sleep between two of dlsum's scans in scenario 9 (0: no dlsum, to see what it costs stalld).
DLSUM_MS=$(arg lab.dlsum_ms)
DLSUM_MS=${DLSUM_MS:-100}
# lab.trace=1: labtool trace follows stalld's main thread in every run (where a stall is spent).
TRACE=$(arg lab.trace)
# lab.gclog=1: stalld logs each garbage collection of its JavaScript engine (BUN_JSC_logGC).
GCLOG=$(arg lab.gclog)
# lab.cpuprof=1: stalld writes Bun's CPU profile (BUN_OPTIONS=--cpu-prof), dumped at its stop.
CPUPROF=$(arg lab.cpuprof)
# lab.dlprobe=reboost: scenario 10 runs only dlprobe's re-boost cases.
DLPROBE=$(arg lab.dlprobe)
STALLD=/bin/stalld
mark() { echo "@@LAB $*"; }
now() { cut -d' ' -f1 /proc/uptime; }
# A log file, between markers, with every line prefixed (so nothing the kernel
# prints between them is taken for stalld's).
dump() { mark "$1 log-begin"; sed "s/^/@@LOG $1 /" "$2"; mark "$1 log-end"; }
# Background pids started here, killed by pid at the end of each scenario.
PIDS=""
bg() { "$@" & PIDS="$PIDS $!"; }
reap() { for p in $PIDS; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; PIDS=""; }
# Starts a bounded SCHED_FIFO busy loop on CPU 1 (priority 50 unless given) and waits until it really runs there.
hog_start() { # seconds [prio]
	# Started on CPU 1: once in ~20 starts a loop that set FIFO 50 on CPU 0
	# was still spinning there 5 s after moving itself (state R, CPU 0).
	taskset -c 1 /bin/rtload fifo "${2:-50}" 1 "$1" >/tmp/hog.out &
	HOG=$!
	PIDS="$PIDS $HOG"
}
hog() { # seconds name [prio]
	hog_start "$1" "${3:-50}"
	if ! r=$(/bin/labtool oncpu "$HOG" 1 5); then
		# Once in a CI quick lab the loop had already ended (state Z) before the
		# check, with no message: its exit status is kept, and it starts once more.
		rc=running
		kill -0 "$HOG" 2>/dev/null || { wait "$HOG"; rc=$?; }
		mark "$2 hog-retry $(echo "$r" | sed 's/^oncpu no //') rc=$rc hog_out=$(tr '\n ' '__' </tmp/hog.out)"
		kill -9 "$HOG" 2>/dev/null; wait "$HOG" 2>/dev/null
		hog_start "$1" "${3:-50}"
		if ! r=$(/bin/labtool oncpu "$HOG" 1 5); then
			# What it was doing instead, for the report.
			mark "$2 hog-not-on-cpu1 $(echo "$r" | sed 's/^oncpu no //') hog_out=$(tr '\n ' '__' </tmp/hog.out)"
			ps -o pid,stat,comm 2>/dev/null | sed "s/^/@@LOG $2-ps /"
		fi
	fi
	# Let the tick and the scheduler see it for a moment: the wait starts now.
	sleep 0.3
}
throttling() { cat /proc/sys/kernel/sched_rt_runtime_us; }
# debugfs mounted now (1/0), and HRTICK_DL as sched/features says (mounted for that one read).
debugfs_now() { grep -q ' /sys/kernel/debug ' /proc/mounts && echo 1 || echo 0; }
hrtick_now() {
	m=0; [ "$(debugfs_now)" = 1 ] || { mount -t debugfs none /sys/kernel/debug 2>/dev/null && m=1; }
	h=$(grep -o 'NO_HRTICK_DL\|HRTICK_DL' /sys/kernel/debug/sched/features 2>/dev/null | head -1)
	[ $m = 1 ] && umount /sys/kernel/debug
	echo "${h:-unknown}"
}
# DEADLINE bandwidth the kernel still accounts per CPU (sched/debug's
# dl_bw->total_bw), as a marker: a leak makes sched_rt_runtime_us refuse writes.
dlbw() { # name
	m=0; grep -q ' /sys/kernel/debug ' /proc/mounts || { mount -t debugfs none /sys/kernel/debug 2>/dev/null && m=1; }
	mark "$1" dl_total_bw=$(grep 'dl_bw->total_bw' /sys/kernel/debug/sched/debug 2>/dev/null | awk '{print $NF}' | paste -sd, -)
	[ $m = 1 ] && umount /sys/kernel/debug
}
# Starts a victim (labtool waker <fifo|other> <prio> 1 <seconds> 50) whose
# report goes to /tmp/waker.out, then the busy loop; W is the victim's pid.
victim_and_hog() { # name policy prio victim_seconds hog_seconds [hog_prio]
	# The last victim's report must not answer for this one: the redirection
	# below truncates in the child, which may not have run when waitfor looks
	# (a 6.1-rt SIGKILL row once took the pid of the previous scenario's victim).
	rm -f /tmp/waker.out
	/bin/labtool waker "$2" "$3" 1 "$4" 50 >/tmp/waker.out &
	W=$!; PIDS="$PIDS $W"
	waitfor /tmp/waker.out ready 50
	hog "$5" "$1" "${6:-50}"
}
# One stalld run around a victim behind the loop, both waited for to the end.
stalld_victim() { # name policy prio victim_seconds hog_seconds stalld-args...
	n=$1 pol=$2 pr=$3 vs=$4 hs=$5; shift 5
	stalld_start "$n" "$@"
	victim_and_hog "$n" "$pol" "$pr" "$vs" "$hs"
	wait "$W" 2>/dev/null
	wait "$HOG" 2>/dev/null
	stalld_stop "$n"
}
# The victim's report, as marker fields.
victim_report() { grep '^waker' /tmp/waker.out | cut -d' ' -f2-; }
# Waits (bounded) for a line matching $2 in file $1.
waitfor() {
	i=0
	while [ $i -lt "${3:-100}" ]; do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; i=$((i + 1)); done
	return 1
}
stalld_start() { # name args...
	name=$1; shift
	if [ "$GCLOG" = 1 ]; then
		BUN_JSC_logGC=1 "$STALLD" run -f -v "$@" >"/tmp/$name.log" 2>&1 &
	elif [ "$CPUPROF" = 1 ]; then
		mkdir -p "/tmp/prof-$name"
		(cd "/tmp/prof-$name" && BUN_OPTIONS="--cpu-prof --cpu-prof-interval=10000" exec "$STALLD" run -f -v "$@" >"/tmp/$name.log" 2>&1) &
	else
		"$STALLD" run -f -v "$@" >"/tmp/$name.log" 2>&1 &
	fi
	SPID=$!
	PIDS="$PIDS $SPID"
	waitfor "/tmp/$name.log" "monitoring CPUs" 300 || mark "$name stalld-did-not-start"
	watch_stalld "$name" "$SPID" "/tmp/$name.log" &
	PIDS="$PIDS $!"
	if [ "$TRACE" = 1 ]; then
		/bin/labtool trace "$SPID" 120 >"/tmp/$name.trace" 2>&1 &
		PIDS="$PIDS $!"
	fi
	# Above scenario 7's loop on CPU 0 (FIFO 2), below everything stalld boosts with; on CPU 0, so that
	# its own children (wc, awk) do not starve behind the loop on CPU 1 and take boosts there.
	/bin/labtool setfifo $! 3
	taskset -p -c 0 $! >/dev/null
}
# A stalld with -v logs every pass (at most 2.5 s apart at -t 3 -g 5): a log that
# stops growing for 4 s (by the clock: this loop may itself be held off CPU 0)
# means its main thread is stuck somewhere. Then, once, the state, wait
# channel and kernel stack of each of its threads go to the console, with the
# kernel's list of blocked tasks (sysrq w), to say where.
watch_stalld() { # name pid log
	last=-1 since=$(now) dumped=0
	while kill -0 "$2" 2>/dev/null; do
		sz=$(wc -c <"$3")
		t=$(now)
		if [ "$sz" != "$last" ]; then
			last=$sz since=$t
		elif [ $dumped = 0 ] && [ "$(awk "BEGIN{print ($t - $since >= 4)}")" = 1 ]; then
			dumped=1
			# at: the wall clock (stalld's log stamps' clock) when it was seen.
			mark "$1-stuck" after_s=$(awk "BEGIN{print $t - $since}") at=$(/bin/labtool now)
			for th in /proc/"$2"/task/*; do
				echo "@@LOG $1-stuck thread $(cat "$th/stat" 2>/dev/null) wchan=$(cat "$th/wchan" 2>/dev/null)"
				sed "s/^/@@LOG $1-stuck   /" "$th/stack" 2>/dev/null
			done
			dmesg -c >/dev/null
			echo w >/proc/sysrq-trigger 2>/dev/null
			dmesg | sed "s/^/@@LOG $1-stuck sysrq /"
		fi
		sleep 0.5
	done
}
stalld_stop() { # name
	kill -TERM "$SPID" 2>/dev/null
	i=0
	while kill -0 "$SPID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	kill -9 "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	dump "$1" "/tmp/$1.log"
	[ -s "/tmp/$1.trace" ] && dump "$1-trace" "/tmp/$1.trace"
	# lab.cpuprof=1: Bun's CPU profile of the run, gzip and base64 (lab/prof.ts reads it).
	for f in /tmp/prof-"$1"/*.cpuprofile; do
		[ -s "$f" ] || continue
		mark "$1 cpuprof-begin"
		gzip -c "$f" | base64 | sed "s/^/@@PROF $1 /"
		mark "$1 cpuprof-end"
	done
}

mark boot release=$(uname -r) version="$(uname -v | tr ' ' '_')" cpus=$(nproc)
mount -t debugfs none /sys/kernel/debug 2>/dev/null
FS=/sys/kernel/debug/sched/fair_server
if [ "$DL" = off ] && [ -d $FS ]; then
	for c in $FS/cpu*; do echo 0 >"$c/runtime"; done
fi
dlrt=none
[ -d $FS ] && dlrt=$(cat $FS/cpu1/runtime)
hrtick=$(grep -o 'NO_HRTICK_DL\|HRTICK_DL' /sys/kernel/debug/sched/features 2>/dev/null | head -1)
mark facts dl_runtime=$dlrt hrtick_dl=${hrtick:-unknown} lockdown="$(cat /sys/kernel/security/lockdown 2>/dev/null | tr ' ' '_')" \
	preempt_rt=$([ -e /sys/kernel/realtime ] && echo 1 || echo 0) btf=$([ -e /sys/kernel/btf/vmlinux ] && echo 1 || echo 0) \
	throttling=$(throttling)
umount /sys/kernel/debug 2>/dev/null

has() { case ",$SCEN," in *",$1,"*) return 0 ;; esac; return 1; }

# 1. doctor
if has 1; then
	"$STALLD" doctor --json -c 1 >/tmp/doctor.json 2>/tmp/doctor.err
	mark doctor rc=$?
	dump doctor /tmp/doctor.json
fi

# 2. each backend rescues a FIFO victim behind a FIFO hog, and its policy comes back.
if has 2; then
	for b in ${BACKENDS:-task_scan queue_track sched_debug}; do
		stalld_victim "backend-$b" fifo 10 16 10 -t 3 -c 1 -b "$b"
		# debugfs is unmounted at the start of each run: stalld mounts it (and turns HRTICK_DL on where
		# it can), and must leave both as found.
		mark "backend-$b" $(victim_report) throttling=$(throttling) debugfs_after=$(debugfs_now) hrtick_after=$(hrtick_now)
		dlbw "backend-$b"
		reap
	done
fi

# 3. the real rescue: vm/stat_refresh while a 20 s busy loop owns CPU 1.
if has 3; then
	old=$(throttling)
	echo -1 >/proc/sys/kernel/sched_rt_runtime_us
	hog 20 refresh-alone
	/bin/labtool refresh >/tmp/refresh.out
	kill -9 "$HOG" 2>/dev/null; wait "$HOG" 2>/dev/null
	mark refresh-alone $(cat /tmp/refresh.out | tr ' ' '=')
	dlbw refresh-alone
	echo "$old" >/proc/sys/kernel/sched_rt_runtime_us || mark refresh-alone throttling_restore_failed=1
	reap
	sleep 1
	stalld_start refresh-stalld -t 3 -c 1
	hog 20 refresh-stalld
	/bin/labtool refresh >/tmp/refresh.out
	kill -9 "$HOG" 2>/dev/null; wait "$HOG" 2>/dev/null
	stalld_stop refresh-stalld
	mark refresh-stalld $(cat /tmp/refresh.out | tr ' ' '=') throttling=$(throttling)
	reap
fi

# 4. a fair victim behind the hog: left to a DL-server where one serves it, boosted where none does.
if has 4; then
	stalld_victim fair other 0 10 8 -t 3 -c 1
	mark fair $(victim_report)
	dlbw fair
	reap
fi

# 5. SIGKILL mid-boost, then a restart puts everything back.
if has 5; then
	before=$(throttling)
	stalld_start crash -t 3 -d 3 -c 1
	victim_and_hog crash fifo 10 14 6
	VPID=$(sed -n 's/^ready //p' /tmp/waker.out)
	# Killed while the victim is boosted (DEADLINE, or FIFO 98 on the last
	# rung; a FIFO slice's off-phase looks restored and proves nothing).
	i=0
	while [ $i -lt 300 ]; do
		set -- $(awk '{print $41, $40}' /proc/"$VPID"/stat 2>/dev/null)
		[ "${1:-}" = 6 ] || { [ "${1:-}" = 1 ] && [ "${2:-}" = 98 ]; } && break
		sleep 0.02; i=$((i + 1))
	done
	kill -9 "$SPID"; wait "$SPID" 2>/dev/null
	during=$(throttling)
	set -- $(awk '{print $41, $40}' /proc/"$VPID"/stat 2>/dev/null)
	policy_killed="${1:-}"; prio_killed="${2:-}"
	dump crash /tmp/crash.log
	wait "$HOG" 2>/dev/null
	stalld_start crash-restart -t 20 -c 1
	policy_restarted=$(awk '{print $41}' /proc/"$VPID"/stat 2>/dev/null)
	stalld_stop crash-restart
	wait "$W" 2>/dev/null
	mark crash killed_policy=$policy_killed killed_prio=$prio_killed throttling_killed=$during restarted_policy=$policy_restarted \
		throttling_after=$(throttling) throttling_before=$before $(victim_report)
	reap
fi

# 6. the kthreads that starve on PREEMPT_RT are boosted together and restored on time.
if has 6; then
	# 20 s, as in the run whose kthread restores came after 20 s instead of 3.
	stalld_victim kthreads other 0 22 20 -t 3 -c 1
	mark kthreads sleeper_$(grep '^waker' /tmp/waker.out | cut -d' ' -f4) throttling=$(throttling)
	dlbw kthreads
	reap
fi

# 7. PREEMPT_RT: stalld's own timers while ktimers/0 is held up. A FIFO-2 loop
# on CPU 0 (stalld's CPU) outranks ktimers/0, as the lab once saw something
# hold it for 18 s; a victim starves on CPU 1 meanwhile and must be rescued on
# time. Kernels without PREEMPT_RT expire timers in hard interrupt context: n/a.
if has 7 && [ -e /sys/kernel/realtime ]; then
	stalld_start own-timers -t 3 -c 1
	victim_and_hog own-timers fifo 10 16 10
	/bin/labtool spin0 2 8 &
	PIDS="$PIDS $!"
	wait "$W" 2>/dev/null
	wait "$HOG" 2>/dev/null
	stalld_stop own-timers
	mark own-timers $(victim_report) cpu0_loop_s=8 throttling=$(throttling)
	dlbw own-timers
	reap
fi

# 8. cyclictest's priority: a FIFO-99 busy loop owns CPU 1 and a FIFO-10 victim starves behind it.
if has 8; then
	stalld_start fifo99 -t 3 -c 1
	victim_and_hog fifo99 fifo 10 16 10 99
	wait "$W" 2>/dev/null
	wait "$HOG" 2>/dev/null
	stalld_stop fifo99
	mark fifo99 $(victim_report) hog_prio=99 throttling=$(throttling)
	dlbw fifo99
	reap
fi

# 9. unprivileged abusers of a boost (labtool mover, lowerer, flood: uid 65534,
# SCHED_FIFO 10 on CPU 1, RLIMIT_RTPRIO 0) behind a root FIFO-50 loop, while
# labtool dlsum adds up the DEADLINE bandwidth on each CPU. Only where no
# DL-server serves CPU 1 (6.1-rt, 6.12 with it off); elsewhere n/a.
if has 9; then
	if [ "$dlrt" != none ] && [ "$dlrt" != 0 ]; then
		mark abuse na=dl-server dl_runtime=$dlrt
	else
		before=$(throttling)
		stalld_start abuse -t 3 -c 1
		rm -f /tmp/mover.out /tmp/lowerer.out /tmp/flood.out /tmp/dlsum.out
		/bin/labtool mover 26 >/tmp/mover.out 2>&1 &
		MV=$!
		/bin/labtool lowerer 26 >/tmp/lowerer.out 2>&1 &
		LW=$!
		# Each flood thread wakes every 250 ms, not 50: at 50 ms the 200 threads' own wake-ups took 9.7 s of
		# CPU 1 in 26 s on 6.1-rt under icount (a hog of their own once the loop ended); at 250 ms, 6.5 s.
		/bin/labtool flood 200 26 250 >/tmp/flood.out 2>&1 &
		FL=$!
		PIDS="$PIDS $MV $LW $FL"
		waitfor /tmp/mover.out ready 100 || mark abuse mover-not-ready
		waitfor /tmp/lowerer.out ready 100 || mark abuse lowerer-not-ready
		waitfor /tmp/flood.out ready 300 || mark abuse flood-not-ready
		# dlsum (root, SCHED_FIFO 90 on CPU 0) reads every task's policy, 100 ms after its last read ended: a
		# read of ~320 tasks took 10-35 ms of CPU 0 under icount, so every 20 ms would have taken half of it.
		DS=
		if [ "$DLSUM_MS" != 0 ]; then
			/bin/labtool dlsum 28 "$SPID" "$DLSUM_MS" >/tmp/dlsum.out 2>&1 &
			DS=$!
			PIDS="$PIDS $DS"
			waitfor /tmp/dlsum.out ready 100
		else
			echo "off (lab.dlsum_ms=0)" >/tmp/dlsum.out
		fi
		hog_t0=$(/bin/labtool now)
		hog 15 abuse
		wait "$HOG" 2>/dev/null
		hog_t1=$(/bin/labtool now)
		wait "$MV" "$LW" "$FL" $DS 2>/dev/null
		stalld_stop abuse
		# hog_t1 is when this shell saw the loop end (it may itself have waited on a busy CPU 1); the loop
		# ran from after hog_t0 for hog_s.
		mark abuse hog_t0=$hog_t0 hog_t1=$hog_t1 hog_s=15 stalld_pid=$SPID throttling_before=$before \
			throttling=$(throttling)
		for a in mover lowerer flood dlsum; do
			# The report line, or what the tool said instead (one line, for the report).
			r=$(grep "^$a " /tmp/$a.out | tail -1 | cut -d' ' -f2-)
			[ -n "$r" ] || r="missing=$(tr '\n ' '__' </tmp/$a.out | cut -c1-200)"
			mark "abuse-$a" $r
		done
		dlbw abuse
		reap
	fi
fi

# 10. the DEADLINE class itself, without stalld (lab/dlprobe.c): what each rung gives a hungry victim behind
# a FIFO-50 loop, its overrun and debt, with HRTICK_DL on and off; a raise before and after the first
# replenishment; a re-boost after a restore that left DEADLINE throttled in debt.
if has 10; then
	m=0; grep -q ' /sys/kernel/debug ' /proc/mounts || { mount -t debugfs none /sys/kernel/debug && m=1; }
	/bin/dlprobe $DLPROBE >/tmp/dlprobe.out 2>&1
	# Figures, not verdicts: lab/FINDINGS.md reads them.
	sed 's/^/@@DLPROBE /' /tmp/dlprobe.out
	[ $m = 1 ] && umount /sys/kernel/debug
	mark dlprobe done=1
fi

mark done
sync
poweroff -f
