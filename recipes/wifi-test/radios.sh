#!/bin/sh
# qemu-test-wifi.sh, inside the VM, before spot-helper: three simulated radios (the kernel's
# mac80211_hwsim, one shared "air"), the phone's radio in netns "phone", and the home network
# in netns "home": hostapd WPA2-PSK "HomeNet" + dnsmasq (DHCP 192.168.50.0/24, leases in a file).
set -eu
. /usr/lib/spot-wifi-test/test.env
mkdir -p "$R"
say() { echo "WIFITEST INFO t=$(cut -d' ' -f1 /proc/uptime) $*" | tee -a "$R/radios.log"; }

modprobe mac80211_hwsim radios=3
udevadm settle -t 30 || true
for _ in $(seq 100); do [ -e /sys/class/net/wlan2 ] && break; sleep 0.1; done
phy() { cat "/sys/class/net/$1/phy80211/name"; }
phone=$(phy wlan1) home=$(phy wlan2)
for ns in phone home; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
iw phy "$phone" set netns name phone
iw phy "$home" set netns name home
say "radios: wlan0 ($(phy wlan0)) is the box's; $phone -> netns phone (wlan1), $home -> netns home (wlan2)"

cat >"$R/home-hostapd.conf" <<CONF
interface=wlan2
driver=nl80211
ctrl_interface=$R/hostapd-home
ssid=$HOME_SSID
hw_mode=g
channel=11
wpa=2
wpa_key_mgmt=WPA-PSK
rsn_pairwise=CCMP
wpa_passphrase=$HOME_PSK
CONF
ip netns exec home ip addr add 192.168.50.1/24 dev wlan2
ip netns exec home hostapd -B -P "$R/home-hostapd.pid" -f "$R/home-hostapd.log" "$R/home-hostapd.conf"
# DHCP only (port=0: no DNS), as root: the lease file is in /run.
ip netns exec home dnsmasq -C /dev/null --port=0 --interface=wlan2 --bind-interfaces \
	--dhcp-range=192.168.50.10,192.168.50.99,255.255.255.0,1h --dhcp-authoritative \
	--dhcp-leasefile="$R/home.leases" --pid-file="$R/home-dnsmasq.pid" \
	--user=root --group=root --log-dhcp --log-facility="$R/home-dnsmasq.log"
say "home network $HOME_SSID up (hostapd pid $(cat "$R/home-hostapd.pid"), dnsmasq pid $(cat "$R/home-dnsmasq.pid"))"
