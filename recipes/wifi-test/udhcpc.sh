#!/bin/sh
# busybox udhcpc's hook for the test's phone: set the leased address, note the lease.
case "$1" in
deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
bound | renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	echo "ip=$ip router=$router dns=$dns" >/run/spot-wifi-test/phone.lease
	;;
esac
exit 0
