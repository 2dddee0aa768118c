#!/bin/sh
# qemu-test-wifi.sh, inside the VM, once spot.service serves: a "phone" (wpa_supplicant and
# busybox in netns "phone", on its own simulated radio) finishes the first run over the box's
# setup access point, first with a wrong password for the home network, then with the right
# one; then the home access point (netns "home") goes away and the box must bring its setup
# access point back by itself. The box is only ever driven over HTTP, as a phone would; the
# helper's status (`spot-helper status`) is read to time the steps.
#
# Output: lines "WIFITEST PASS|FAIL|INFO|MARK|DIAG|DONE ..." on the virtio-serial port
# spot.wifitest (the host reads it) and on the console; t= is /proc/uptime.
. /usr/lib/spot-wifi-test/test.env
PORT=/dev/virtio-ports/spot.wifitest
PASS=0 FAIL=0

up() { cut -d' ' -f1 /proc/uptime; }
out() {
	echo "WIFITEST $*"
	if [ -e "$PORT" ]; then echo "WIFITEST $*" >>"$PORT"; fi
}
ok() { PASS=$((PASS + 1)); out "PASS t=$(up) $*"; }
bad() { FAIL=$((FAIL + 1)); out "FAIL t=$(up) $*"; }
info() { out "INFO t=$(up) $*"; }
mark() { out "MARK $1 t=$(up)"; }
since() { awk -v a="$(up)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
# retry N CMD...: once a second until CMD succeeds, at most N tries.
retry() {
	n=$1
	shift
	while ! "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 1
	done
}
P() { ip netns exec phone "$@"; }
# http NS URL [wget args]: busybox wget in a namespace; body on stdout, response headers in $R/hdr.
http() {
	ns=$1 url=$2
	shift 2
	ip netns exec "$ns" "$BB" timeout 40 "$BB" wget -S -O - "$@" "$url" 2>"$R/hdr"
}
code() { grep -m1 -o 'HTTP/1.[01] [0-9]*' "$R/hdr" | cut -d' ' -f2; }
# As the admin (session cookie from the claim; CSRF header on state changes).
api_get() { http "$1" "http://$2$3" --header "Cookie: $COOKIE"; }
api_post() {
	http phone "http://$BOX$1" --header "Cookie: $COOKIE" --header "x-csrf-token: $CSRF" \
		--header 'Content-Type: application/json' --post-data "$2"
}
json_str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -1; }
last_error() { grep -o '"last_error":{[^}]*}'; }

status() { spot-helper status 2>/dev/null; }
mode_is() { status | grep -q "\"mode\":\"$1\""; }
not_mode() { ! mode_is "$1"; }
# The helper's child of that name (hostapd, dnsmasq, wpa_supplicant), not the test's own.
child() {
	hp=$(systemctl show -p MainPID --value spot-helper.service)
	for c in $(cat /proc/"$hp"/task/*/children 2>/dev/null); do
		[ "$(cat /proc/"$c"/comm 2>/dev/null)" = "$1" ] && echo "$c" && return 0
	done
	return 1
}
# NAME PID: "NAME=RSS kB (Pss kB)" from /proc/PID/status and smaps_rollup.
mem() {
	[ -n "$2" ] || { echo "$1=none"; return; }
	echo "$1=$(awk '/^VmRSS/{print $2}' /proc/"$2"/status)kB(pss $(awk '/^Pss:/{print $2}' /proc/"$2"/smaps_rollup)kB)"
}
phone_on() { P iw dev wlan1 link 2>/dev/null | grep -q "SSID: $AP_SSID"; }
phone_dhcp() {
	rm -f "$R/phone.lease"
	P "$BB" timeout 90 "$BB" udhcpc -i wlan1 -n -q -t 15 -T 3 -s "$D/udhcpc.sh" >>"$R/udhcpc.log" 2>&1 &&
		[ -s "$R/phone.lease" ] && . "$R/phone.lease"
}
# The phone back on the setup access point after it went away: associated, a fresh lease.
phone_back() {
	retry 180 phone_on || { bad "$1: the phone did not re-associate with $AP_SSID"; return 1; }
	phone_dhcp || { bad "$1: the phone got no DHCP lease after re-associating"; return 1; }
	info "$1: the phone is back on $AP_SSID with $ip"
}
diag() {
	out "DIAG helper status: $(status)"
	ip -br addr | while read -r l; do out "DIAG ip: $l"; done
	hp=$(systemctl show -p MainPID --value spot-helper.service)
	for t in /proc/"$hp"/task/*; do out "DIAG helper task $(cat "$t/comm") $(awk '{print $3}' "$t/stat") wchan=$(cat "$t/wchan")"; done
	for c in $(cat /proc/"$hp"/task/*/children); do out "DIAG helper child $c $(awk '{print $3}' /proc/"$c"/stat): $(tr '\0' ' ' </proc/"$c"/cmdline)"; done
	journalctl -b -n 100 --no-pager -u spot-helper.service -u spot.service -u systemd-networkd.service 2>&1 | while read -r l; do out "DIAG journal: $l"; done
	for f in probe.txt hdr phone-wpa.log udhcpc.log home-hostapd.log home-dnsmasq.log; do
		tail -n 15 "$R/$f" 2>/dev/null | while read -r l; do out "DIAG $f: $l"; done
	done
}
finish() {
	[ "$FAIL" = 0 ] || diag
	out "DONE passed=$PASS failed=$FAIL"
	exit 0
}

info "driver started after spot.service (uptime $(up) s)"

# (1) No Ethernet: after the helper's Ethernet grace, the setup access point with dnsmasq.
retry 300 mode_is access_point || { bad "the box never served its setup access point"; finish; }
AP_SSID=$(status | json_str ap_ssid)
HOSTAPD=$(child hostapd) DNSMASQ=$(child dnsmasq)
retry 30 sh -c 'ip -4 addr show dev wlan0 | grep -q "inet 192.168.4.1/"'
if [ -n "$HOSTAPD" ] && [ -n "$DNSMASQ" ] && status | grep -q '"ethernet":false'; then
	mark ap_up
	ok "setup access point $AP_SSID on wlan0 ($(ip -4 -o addr show dev wlan0 | awk '{print $4}')), no Ethernet: hostapd $HOSTAPD, dnsmasq $DNSMASQ"
else
	bad "access point mode without hostapd ($HOSTAPD) / dnsmasq ($DNSMASQ), or with Ethernet: $(status)"
	finish
fi
out "RSS access_point $(mem hostapd "$HOSTAPD") $(mem dnsmasq "$DNSMASQ") $(mem spot-helper "$(systemctl show -p MainPID --value spot-helper.service)") $(mem spot "$(systemctl show -p MainPID --value spot.service)")"

# (2) The phone: associate (open network), DHCP, DNS, the captive probe, the wizard's API.
cat >"$R/phone.conf" <<EOF
ctrl_interface=$R/wpa-phone
network={
	ssid="$AP_SSID"
	key_mgmt=NONE
}
EOF
P wpa_supplicant -B -i wlan1 -D nl80211 -c "$R/phone.conf" -P "$R/phone-wpa.pid" -f "$R/phone-wpa.log"
retry 120 phone_on || { bad "the phone did not associate with $AP_SSID"; finish; }
ok "the phone associated with $AP_SSID"
phone_dhcp || { bad "the phone got no DHCP lease from the box"; finish; }
BOX=$router
ok "the phone leased $ip from the box (router $router, DNS $dns)"
ans=$(P "$BB" timeout 30 "$BB" nslookup connectivitycheck.gstatic.com "$dns" 2>&1 | awk '/^Name:/{n=1} n && /^Address/{print $2; exit}')
[ "$ans" = "$BOX" ] && ok "connectivitycheck.gstatic.com resolves to the box ($ans)" ||
	{ bad "connectivitycheck.gstatic.com resolved to '$ans', not $BOX"; finish; }
# What Android does: GET the probe URL by its name (resolved above), redirects not followed
# (busybox wget follows them: only the first response counts).
P "$BB" timeout 30 "$BB" wget -S -O /dev/null -U 'Dalvik/2.1.0 (Linux; U; Android 14)' \
	--header 'Host: connectivitycheck.gstatic.com' "http://$ans/generate_204" 2>"$R/probe.txt"
first=$(grep -m1 'HTTP/1' "$R/probe.txt" | sed 's/^ *//' | tr -d '\r')
loc=$(grep -i -m1 '^ *location:' "$R/probe.txt" | tr -d '\r' | awk '{print $2}')
if echo "$first" | grep -q ' 302 ' && [ "$loc" = "http://$BOX/setup" ]; then
	mark first_302
	ok "GET http://connectivitycheck.gstatic.com/generate_204 -> $first, Location: $loc"
else
	bad "captive probe: '$first' Location '$loc'"
	finish
fi
setup=$(http phone "http://$BOX/api/setup")
echo "$setup" | grep -q '"open":true' && echo "$setup" | grep -q '"claimed":false' &&
	ok "GET /api/setup from the phone: open, not claimed" || { bad "GET /api/setup: $(code) $setup"; finish; }

# (3) The wizard: claim, scan, a wrong password for the home network.
claim="{\"box_name\":\"spot\",\"username\":\"$ADMIN_USER\",\"password\":\"$ADMIN_PASS\",\"timezone\":\"Europe/Berlin\"}"
body=$(http phone "http://$BOX/api/setup/claim" --header 'Content-Type: application/json' --post-data "$claim")
COOKIE=$(sed -n 's/^ *set-cookie: *\(spot_session=[^;]*\).*/\1/Ip' "$R/hdr" | head -1)
CSRF=$(echo "$body" | json_str csrf_token)
[ -n "$COOKIE" ] && [ -n "$CSRF" ] && ok "the phone claimed the box as $ADMIN_USER (session cookie, CSRF token)" ||
	{ bad "claim: $(code) $body"; finish; }
nets=$(api_post /api/network/scan '')
echo "$nets" | grep -o "{[^}]*\"ssid\":\"$HOME_SSID\"[^}]*}" | grep -q '"security":"wpa2"' &&
	ok "the wizard's scan lists $HOME_SSID (wpa2)" || bad "scan: $(code) $nets"
# The reply to a join may never reach the phone (the helper takes the access point down
# before it answers): the POST runs in the background while the box is watched.
t=$(up)
api_post /api/network/wifi "{\"ssid\":\"$HOME_SSID\",\"password\":\"$WRONG_PSK\",\"hidden\":false}" >/dev/null &
post=$!
wrong() { s=$(status) && echo "$s" | grep -q '"mode":"access_point"' && echo "$s" | grep -q '"code":"wrong_password"'; }
retry 240 wrong || { bad "the box did not come back as the access point with wrong_password: $(status)"; finish; }
info "the box is the access point again with wrong_password $(since "$t") s after the POST was sent"
wait "$post"
c=$(code)
info "POST /api/network/wifi (wrong password): HTTP ${c:-none} $(since "$t") s after it was sent"
phone_back "wrong password" || finish
err=$(api_get phone "$BOX" /api/network | last_error)
echo "$err" | grep -q '"code":"wrong_password"' && ok "GET /api/network on the phone: $err" ||
	{ bad "GET /api/network after the wrong password: $(code) $err"; finish; }

# (4) The right password: the box joins the home network and serves there.
t=$(up)
api_post /api/network/wifi "{\"ssid\":\"$HOME_SSID\",\"password\":\"$HOME_PSK\",\"hidden\":false}" >/dev/null &
post=$!
retry 240 mode_is wifi || { bad "the box did not join $HOME_SSID: $(status)"; finish; }
mark joined
ok "the box joined $HOME_SSID $(since "$t") s after the POST was sent"
wait "$post"
c=$(code)
info "POST /api/network/wifi (right password): HTTP ${c:-none (the phone lost the access point before the reply)}"
mac=$(cat /sys/class/net/wlan0/address)
lease() { home_ip=$(awk -v m="$mac" '$2 == m {print $3}' "$R/home.leases" 2>/dev/null) && [ -n "$home_ip" ]; }
retry 60 lease || { bad "no lease for $mac in the home dnsmasq's lease file"; finish; }
ok "the home dnsmasq leased $home_ip to the box ($mac)"
health=$(http home "http://$home_ip/api/health")
[ "$(code)" = 200 ] && ok "from netns home: GET http://$home_ip/api/health -> 200 $health" ||
	{ bad "GET http://$home_ip/api/health from netns home: $(code) $health"; finish; }
net=$(api_get home "$home_ip" /api/network)
echo "$net" | grep -q '"mode":"wifi"' && echo "$net" | grep -q "\"ssid\":\"$HOME_SSID\"" && echo "$net" | grep -q "\"$home_ip\"" &&
	ok "GET /api/network over the home network: mode wifi, ssid $HOME_SSID, address $home_ip" || bad "GET /api/network over home: $net"
[ -z "$(child hostapd)" ] && [ -z "$(child dnsmasq)" ] || bad "hostapd or dnsmasq still runs on the home network"
out "RSS wifi $(mem wpa_supplicant "$(child wpa_supplicant)") $(mem spot-helper "$(systemctl show -p MainPID --value spot-helper.service)") $(mem spot "$(systemctl show -p MainPID --value spot.service)")"

# (5) The home network disappears: after the (shortened) fallback delay, the setup access point.
kill "$(cat "$R/home-hostapd.pid")"
mark home_gone
t=$(up)
retry 60 not_mode wifi && info "home access point stopped: the box says $(status | json_str mode)"
retry 300 mode_is access_point || { bad "the setup access point did not come back: $(status)"; finish; }
mark ap_back
ok "the setup access point is back by itself $(since "$t") s after the home network went away"
phone_back "fallback" || finish
setup=$(http phone "http://$BOX/api/setup")
echo "$setup" | grep -q '"claimed":true' && ok "the phone reaches GET /api/setup again (claimed)" || bad "GET /api/setup after the fallback: $(code) $setup"
err=$(api_get phone "$BOX" /api/network | last_error)
info "GET /api/network after the fallback: $err"
finish
