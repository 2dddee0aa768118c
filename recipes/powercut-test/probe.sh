#!/bin/sh
# The power-cut test's eyes inside the VM (recipes/qemu-test-powercut.sh puts this on a test
# copy of the image, never in the image itself): every 2 s one line of facts on the
# virtio-serial port spot.probe, read by the test on the host. Reads only.
out=/dev/virtio-ports/spot.probe
while :; do
	lease=$(cat /run/systemd/netif/leases/* 2>/dev/null | sed -n 's/^CLIENTID=//p' | head -1)
	mtime=$(stat -c %Y /data/timesync/clock 2>/dev/null || echo none)
	mid=$(cat /etc/machine-id 2>/dev/null)
	case " $(cat /proc/cmdline) " in *" systemd.machine_id="*) from=cmdline ;; *) from=new ;; esac
	# Memory (KiB): the daemon's and the helper's resident sets, what the kernel could still give.
	rss() { awk '/^VmRSS:/{print $2}' "/proc/$(systemctl show -p MainPID --value "$1")/status" 2>/dev/null; }
	mem="rss_spot=$(rss spot.service) rss_helper=$(rss spot-helper.service) mem_available=$(awk '/^MemAvailable:/{print $2}' /proc/meminfo)"
	printf 'PROBE boot=%s machine_id=%s machine_id_from=%s clientid=%s now=%s uptime=%s clock_file=%s timesyncd=%s data=%s %s\n' \
		"$(cat /proc/sys/kernel/random/boot_id)" "${mid:-none}" "$from" "${lease:-none}" "$(date +%s)" \
		"$(cut -d' ' -f1 /proc/uptime)" "$mtime" "$(systemctl is-active systemd-timesyncd.service)" \
		"$(mountpoint -q /data && echo mounted || echo none)" "$mem" >"$out"
	sleep 2
done
