#!/usr/bin/env bash
# The kernel lab: boots Debian's own kernels under qemu with dist/stalld inside
# and runs the scenarios of lab/init.sh on each, then writes KERNELS.md
# (lab/report.ts) and exits non-zero if a row failed.
#
#   bash lab/run.sh [--quick] [--clock=icount|tcg] [KERNEL...]
#
# KERNEL: 6.1-rt, 6.12, 6.12-nodl (the DL-server turned off), 6.12-rt; default
# all four. --quick: scenarios QUICK_SCEN below on 6.12-nodl (what CI runs; 6.1-rt
# and 6.12-rt are out of it while their failing rows are open, lab/FINDINGS.md).
# --clock (or LAB_CLOCK): icount (the default, and the mode that judges
# boosts): one TCG thread with instruction-counted time (-icount
# shift=auto,sleep=on), so the DEADLINE class's runtime accounting, hrtimers
# and the tick agree as on hardware; tcg: multi-threaded TCG, about twice as
# fast, but its guest clock runs with the host's while vCPUs lag behind it, and
# DEADLINE runtimes measured there are not a judgement of a boost. A full lab
# under tcg writes build/lab/KERNELS-tcg.md, not KERNELS.md.
# Kernel packages come from Debian's archive with apt-get download, cached in
# $STALLD_LAB_CACHE (default /var/cache/stalld-lab): a second run downloads
# nothing. Only qemu runs on the host, each boot under a timeout; every RT
# load runs inside the guest.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${STALLD_LAB_CACHE:-/var/cache/stalld-lab}
OUT=build/lab
QUICK=0
KERNELS=()
CLOCK=${LAB_CLOCK:-icount}
for a in "$@"; do
	case "$a" in
	--quick) QUICK=1 ;;
	--clock=*) CLOCK=${a#--clock=} ;;
	6.1-rt | 6.12 | 6.12-nodl | 6.12-rt) KERNELS+=("$a") ;;
	*)
		echo "lab: unknown argument '$a' (kernels: 6.1-rt 6.12 6.12-nodl 6.12-rt; --quick; --clock=icount|tcg)" >&2
		exit 2
		;;
	esac
done
case "$CLOCK" in
icount | tcg) ;;
*) echo "lab: unknown clock '$CLOCK' (icount or tcg)" >&2; exit 2 ;;
esac
if [ ${#KERNELS[@]} -eq 0 ]; then
	if [ $QUICK -eq 1 ]; then KERNELS=(6.12-nodl); else KERNELS=(6.1-rt 6.12 6.12-nodl 6.12-rt); fi
fi
SCEN=1,2,3,4,5,6,7,8,9
QUICK_SCEN=1,2,3,8
[ $QUICK -eq 1 ] && SCEN=$QUICK_SCEN
# LAB_SCEN: a subset of scenarios, while working on one; LAB_BACKENDS: the
# backends scenario 2 runs (comma-separated, repeats allowed); LAB_DLSUM_MS:
# the sleep between two scans of scenario 9's dlsum (default 100; 0: none);
# LAB_TRACE=1: labtool trace follows stalld's main thread (lab/labtool.c);
# LAB_DLPROBE=reboost: scenario 10 runs only dlprobe's re-boost cases;
# LAB_GCLOG=1: stalld logs its JavaScript engine's collections;
# LAB_CPUPROF=1: stalld's CPU profile, read by lab/prof.ts.
SCEN=${LAB_SCEN:-$SCEN}
fail() { echo "lab: $*" >&2; echo "lab: 0 passed, 1 failed"; exit 1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
for pkg in qemu-system-x86 busybox-static cpio gzip gcc libc6-dev; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "lab: installing ${need[*]}"
	as_root apt-get update -qq >/dev/null
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
		fail "cannot install ${need[*]} from Debian's packages"
fi
[ -x dist/stalld ] || fail "dist/stalld is missing: run bash scripts/setup.sh first"

# The newest package of each kernel family Debian's archive has today.
package_of() {
	local re
	case "$1" in
	6.1-rt) re='^linux-image-6\.1\.0-[0-9]+-rt-amd64$' ;;
	6.12 | 6.12-nodl) re='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
	6.12-rt) re='^linux-image-6\.12\.[0-9]+\+deb12-rt-amd64$' ;;
	esac
	apt-cache pkgnames linux-image-6. 2>/dev/null | grep -E "$re" | sort -V | tail -1
}
mkdir -p "$CACHE" "$OUT"
if ! apt-cache pkgnames linux-image-6. 2>/dev/null | grep -q .; then as_root apt-get update -qq >/dev/null; fi
kernel_dir() { # kernel -> prints the extracted package dir
	local pkg deb
	pkg=$(package_of "$1")
	[ -n "$pkg" ] || return 1
	if [ ! -d "$CACHE/x/$pkg/boot" ]; then
		deb=$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | tail -1)
		if [ -z "$deb" ]; then
			(cd "$CACHE" && timeout 600 apt-get download "$pkg" >/dev/null 2>&1) || return 1
			deb=$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | tail -1)
		fi
		mkdir -p "$CACHE/x/$pkg" && dpkg-deb -x "$deb" "$CACHE/x/$pkg" || return 1
	fi
	echo "$CACHE/x/$pkg"
}

# One initramfs for every kernel: busybox, dist/stalld, the libraries it and
# libbpf need, the static helpers, lab/init.sh as /init.
build_initramfs() {
	local r=$OUT/root lib
	rm -rf "$r" && mkdir -p "$r"/{bin,sbin,usr/bin,proc,sys,dev,run,tmp,etc,lib64,lib/x86_64-linux-gnu}
	cp /bin/busybox "$r/bin/busybox"
	for app in $("$r/bin/busybox" --list); do
		[ "$app" = busybox ] || ln -sf busybox "$r/bin/$app"
	done
	cp dist/stalld "$r/bin/stalld"
	for lib in $( (ldd dist/stalld; ldd /usr/lib/x86_64-linux-gnu/libbpf.so.1) | grep -o '/[^ ]*' | sort -u) /usr/lib/x86_64-linux-gnu/libbpf.so.1; do
		mkdir -p "$r$(dirname "$lib")" && cp -L "$lib" "$r$lib"
	done
	gcc -O2 -static -o "$r/bin/rtload" tests/helpers/rtload.c || return 1
	gcc -O2 -static -pthread -o "$r/bin/labtool" lab/labtool.c || return 1
	gcc -O2 -static -o "$r/bin/dlprobe" lab/dlprobe.c || return 1
	cp lab/init.sh "$r/init" && chmod +x "$r/init"
	(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/root.cpio.gz"
}
echo "lab: building the initramfs"
build_initramfs || fail "could not build the initramfs"

# KVM only where a guest really runs: a short boot must reach /init. KVM's
# clock is the hardware's; without it, the clock mode above.
if [ "$CLOCK" = icount ]; then
	# No thread=multi with icount: one host thread runs both vCPUs.
	TCG=(-accel tcg,thread=single -icount shift=auto,sleep=on -cpu max)
	TCG_NAME=tcg-icount
	# Under icount 6.1-rt's second CPU calibrated its delay loop for 264 s of
	# boot ("calibrate_delay_direct() failed to get a good estimate ...
	# Consider using lpj="): the boot CPU's own value (1 GHz TSC, HZ 250)
	# brought it to /init in 30 s. It only sets udelay's loop count.
	TCG_APPEND="lpj=4000000"
else
	TCG=(-accel tcg,thread=multi -cpu max)
	TCG_NAME=tcg
	TCG_APPEND=""
fi
APPEND_EXTRA=$TCG_APPEND
LAB_ARGS="lab.dlsum_ms=${LAB_DLSUM_MS:-}"
ACCEL=("${TCG[@]}")
ACCEL_NAME=$TCG_NAME
probe_kvm() {
	local dir=$1
	[ -r /dev/kvm ] || return 1
	# In a subshell: a qemu that aborts (no usable KVM) is not reported by this shell.
	(timeout 40 qemu-system-x86_64 -enable-kvm -cpu host -smp 2 -m 2048 -nographic -no-reboot \
		-kernel "$dir"/boot/vmlinuz-* -initrd "$OUT/root.cpio.gz" \
		-append "console=ttyS0 panic=-1 rdinit=/init quiet lab.scen=none" >"$OUT/kvm-probe.log" 2>&1 </dev/null
	exit $?) 2>/dev/null
	grep -q '@@LAB done' "$OUT/kvm-probe.log"
}

# The per-boot bound: the guest's boot and every scenario it runs, each at the
# longest wall time measured for it under this clock, times 1.5 (a hung guest
# is cut off there and its rows fail). LAB_TIMEOUT overrides it.
boot_timeout() {
	local total sc
	# Seconds of wall time: the boot to /init, then each scenario. Measured
	# under icount (a full lab, 4 kernels, 17 min): boot 10 s (6.12) to 20-55 s
	# (6.1-rt); scenario 2 63-75 s, 3 6-52 s, 5 16-20 s (90 s once on 6.12-rt,
	# stalld stuck), 8 20-25 s, 9 35-39 s, every other one under 30 s.
	local -A cost
	if [ "$ACCEL_NAME" = tcg-icount ]; then
		total=60
		cost=([1]=10 [2]=80 [3]=55 [4]=20 [5]=45 [6]=35 [7]=25 [8]=25 [9]=60)
	else
		total=60
		cost=([1]=10 [2]=90 [3]=60 [4]=30 [5]=45 [6]=45 [7]=45 [8]=35 [9]=60)
	fi
	for sc in ${SCEN//,/ }; do total=$((total + ${cost[$sc]:-120})); done
	echo $((total * 3 / 2))
}
rm -f "$OUT"/*.console
for k in "${KERNELS[@]}"; do
	dir=$(kernel_dir "$k") || { echo "lab: $k: no Debian kernel package could be had (apt-get download failed)"; echo "@@LAB missing kernel=$k" >"$OUT/$k.console"; continue; }
	if [ -z "${PROBED:-}" ]; then
		PROBED=1
		if probe_kvm "$dir"; then ACCEL=(-enable-kvm -cpu host); ACCEL_NAME=kvm; APPEND_EXTRA=""; fi
		echo "lab: accelerator: $ACCEL_NAME$([ $ACCEL_NAME != kvm ] && echo ' (KVM did not bring a guest to /init)')"
	fi
	dl=on
	[ "$k" = 6.12-nodl ] && dl=off
	case "$k" in 6.1-rt) dlsay="no DL-server in 6.1" ;; *) dlsay="DL-server $dl" ;; esac
	BOOT_TIMEOUT=${LAB_TIMEOUT:-$(boot_timeout)}
	LAB_ARGS="lab.dlsum_ms=${LAB_DLSUM_MS:-} lab.trace=${LAB_TRACE:-} lab.dlprobe=${LAB_DLPROBE:-} lab.gclog=${LAB_GCLOG:-} lab.cpuprof=${LAB_CPUPROF:-} $APPEND_EXTRA"
	echo "lab: $k: booting $(basename "$dir") (scenarios $SCEN, $dlsay; clock $ACCEL_NAME, timeout ${BOOT_TIMEOUT} s)"
	t0=$(date +%s)
	boot() {
		timeout "$BOOT_TIMEOUT" qemu-system-x86_64 "${ACCEL[@]}" -smp 2 -m 2048 -nographic -no-reboot \
			-kernel "$dir"/boot/vmlinuz-* -initrd "$OUT/root.cpio.gz" \
			-append "console=ttyS0 panic=-1 rdinit=/init quiet lab.scen=$SCEN lab.dl=$dl lab.b=${LAB_BACKENDS:-} $LAB_ARGS" \
			</dev/null >"$OUT/$k.console" 2>&1
	}
	boot
	rc=$?
	retried=""
	# The guest kernel itself crashing (seen once under TCG: "Oops: int3" in
	# __schedule while a static key was being patched) is the emulator's, not
	# a result: that kernel boots once more, and KERNELS.md says so. A guest
	# that hangs or crashes twice is a failed row.
	crash=$(grep -m1 -o 'Oops: [^[]*\|Kernel panic - [^[]*' "$OUT/$k.console" | tr -c 'A-Za-z0-9:_.-' '_')
	if ! grep -q '@@LAB done' "$OUT/$k.console" && [ -n "$crash" ]; then
		mv "$OUT/$k.console" "$OUT/$k.crashed.console"
		echo "lab: $k: the guest kernel crashed (${crash//_/ }); booting it once more"
		boot
		rc=$?
		retried=" retried=$crash"
	fi
	echo "@@HOST kernel=$k package=$(basename "$dir") accel=$ACCEL_NAME seconds=$(($(date +%s) - t0)) rc=$rc" \
		"timeout=$BOOT_TIMEOUT$retried" >>"$OUT/$k.console"
	echo "lab: $k: done in $(($(date +%s) - t0)) s"
done

. scripts/bun.sh
KERNELS_MD=KERNELS.md
# Boosts are judged on an instruction-counted clock (or KVM's): another clock's full lab does not stand for them.
[ "$ACCEL_NAME" = tcg ] && KERNELS_MD=$OUT/KERNELS-tcg.md
[ $QUICK -eq 1 ] && KERNELS_MD=$OUT/KERNELS-quick.md
# A run of some scenarios or backends only does not stand for the kernels.
[ -n "${LAB_SCEN:-}${LAB_BACKENDS:-}${LAB_DLSUM_MS:-}" ] && KERNELS_MD=$OUT/KERNELS-partial.md
"$BUN" lab/report.ts --out "$KERNELS_MD" --scenarios "$SCEN" --backends "${LAB_BACKENDS:-}" "${KERNELS[@]/#/$OUT/}"
