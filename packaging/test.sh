#!/usr/bin/env bash
# Package acceptance, as root on a Debian machine (CI): build the .deb and
# .rpm, inspect them, lint the .deb, install it, send as www-data and nobody
# against the fake Exchange, check what those users cannot read, upgrade
# keeping an edited configuration, remove, purge, reinstall; install the
# .rpm into a scratch root. It changes the system: never run it on yours.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "packaging/test.sh must run as root" >&2; exit 1; }

fail() { echo "packaging test FAILED: $*" >&2; exit 1; }
step() { echo "== $*"; }

step "build"
# A leftover of an earlier run would hide what this build installs.
dpkg -P oauth-sendmail >/dev/null 2>&1 || true
rm -rf dist
base="0.0.$(git rev-list --count HEAD 2>/dev/null || echo 1)"
OAUTH_SENDMAIL_VERSION="$base" packaging/build.sh amd64 arm64 >/dev/null
deb=$(ls dist/oauth-sendmail_"$base"-1_amd64.deb)
rpm=$(ls dist/oauth-sendmail-"$base"-1.x86_64.rpm)
ls dist/oauth-sendmail_"$base"-1_arm64.deb dist/oauth-sendmail-"$base"-1.aarch64.rpm >/dev/null

step "inspect the .deb"
info=$(dpkg-deb -I "$deb")
for field in "Provides: mail-transport-agent" "Conflicts: mail-transport-agent" "Replaces: mail-transport-agent" "Section: mail"; do
	grep -q "$field" <<<"$info" || fail "control lacks $field"
done
contents=$(dpkg-deb -c "$deb")
check() { grep -Eq "$1" <<<"$contents" || fail "package contents: no line matching $1"; }
check '^-rw-r----- root/root .* \./etc/oauth-sendmail/config\.toml$'
check '^drwxrws--- root/root .* \./var/spool/oauth-sendmail/$'
check '^drwxrws--- root/root .* \./var/cache/oauth-sendmail/$'
check '^lrwxrwxrwx .* \./usr/sbin/sendmail -> oauth-sendmail$|^l--------- .* \./usr/sbin/sendmail -> oauth-sendmail$'
check '\./usr/lib/sendmail -> \.\./sbin/oauth-sendmail$'
check '\./usr/bin/mailq -> \.\./sbin/oauth-sendmail$'
check '\./usr/bin/newaliases -> \.\./sbin/oauth-sendmail$'
check '\./usr/share/man/man8/sendmail\.8\.gz$'
check '\./lib/systemd/system/oauth-sendmail-queue\.timer$'
dpkg-deb -e "$deb" /tmp/debctl.$$
grep -qx /etc/oauth-sendmail/config.toml /tmp/debctl.$$/conffiles || fail "config.toml is not a conffile"
grep -q "dpkg-statoverride --update --add .*2755 /usr/sbin/oauth-sendmail" /tmp/debctl.$$/postinst ||
	grep -q "override root oauth-sendmail 2755 /usr/sbin/oauth-sendmail" /tmp/debctl.$$/postinst || fail "postinst does not make the binary setgid"
for s in /tmp/debctl.$$/{preinst,postinst,prerm,postrm}; do sh -n "$s" || fail "$s: syntax"; done
rm -rf /tmp/debctl.$$

step "inspect the .rpm"
rpmlist=$(rpm -qplv "$rpm" 2>/dev/null)
grep -Eq '^-rwxr-sr-x .* root +oauth-se.* /usr/sbin/oauth-sendmail$' <<<"$rpmlist" || fail "rpm: binary not setgid oauth-sendmail"
grep -Eq '^-rw-r----- .* /etc/oauth-sendmail/config\.toml$' <<<"$rpmlist" || fail "rpm: config mode"
grep -Eq '^drwxrws--- .* /var/spool/oauth-sendmail$' <<<"$rpmlist" || fail "rpm: spool mode"
rpm -qp --provides "$rpm" 2>/dev/null | grep -qx MTA || fail "rpm: Provides MTA"
rpm -qp --provides "$rpm" 2>/dev/null | grep -q "server(smtp)" || fail "rpm: Provides server(smtp)"
rpm -qp --obsoletes "$rpm" 2>/dev/null | grep -q . && fail "rpm: must not obsolete anything"
scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
grep -q "alternatives --install /usr/sbin/sendmail mta /usr/sbin/oauth-sendmail" <<<"$scripts" || fail "rpm: no alternatives --install"
grep -q "alternatives --remove mta /usr/sbin/oauth-sendmail" <<<"$scripts" || fail "rpm: no alternatives --remove"
for tag in PREIN POSTIN PREUN; do
	rpm -qp --qf "%{$tag}" "$rpm" 2>/dev/null | sh -n || fail "rpm: $tag scriptlet syntax"
done
root=$(mktemp -d)
rpm --root "$root" --initdb
rpm --root "$root" -i --nodeps --noscripts --nosignature "$rpm" || fail "rpm install into a scratch root"
[ -x "$root/usr/sbin/oauth-sendmail" ] || fail "rpm: binary not installed"
rm -rf "$root"

step "lintian"
lintian --fail-on error --tag-display-limit 0 "$deb" 2>&1 | grep -v 'running with root' || true
lintian --fail-on error "$deb" >/dev/null 2>&1 || fail "lintian reports errors"

step "install"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >/dev/null
[ "$(stat -c '%a %U %G' /usr/sbin/oauth-sendmail)" = "2755 root oauth-sendmail" ] || fail "binary: $(stat -c '%a %U %G' /usr/sbin/oauth-sendmail)"
[ "$(stat -c '%a %G' /etc/oauth-sendmail/config.toml)" = "640 oauth-sendmail" ] || fail "config: $(stat -c '%a %G' /etc/oauth-sendmail/config.toml)"
[ "$(stat -c '%a %G' /var/spool/oauth-sendmail)" = "2770 oauth-sendmail" ] || fail "spool: $(stat -c '%a %G' /var/spool/oauth-sendmail)"
[ "$(readlink -f /usr/sbin/sendmail)" = /usr/sbin/oauth-sendmail ] || fail "/usr/sbin/sendmail is not ours"

step "fake Entra ID and Exchange Online"
fx=$(mktemp -d)
chmod 755 "$fx"
go build -o "$fx/fakeexo" ./internal/fakeexo/cmd/fakeexo
"$fx/fakeexo" -dir "$fx" & fakepid=$!
trap 'kill $fakepid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -f "$fx/info.env" ] && break; sleep 0.1; done
. "$fx/info.env"

step "configure a profile"
install -m 0640 -o root -g oauth-sendmail /dev/null /etc/oauth-sendmail/alerts.secret
printf '%s\n' "$SECRET" >/etc/oauth-sendmail/alerts.secret
cat >/etc/oauth-sendmail/config.toml <<TOML
# edited by the package test
default_profile = "alerts"
log = "stderr"

[aliases]
root = "admin@contoso.test"
"*" = "ops@contoso.test"

[queue]
rate_per_minute = 0

[profile.alerts]
mailbox = "$MAILBOX"
tenant = "$TENANT"
client_id = "$CLIENT_ID"
client_secret_file = "/etc/oauth-sendmail/alerts.secret"
authority = "$ENTRA_URL"
smtp = "$SMTP_ADDR"
ca_file = "$fx/ca.pem"
TOML
oauth-sendmail config check >/dev/null || fail "config check"

wait_for() { # N messages received
	for _ in $(seq 100); do [ "$(ls "$fx/received" | wc -l)" -ge "$1" ] && return 0; sleep 0.1; done
	fail "waiting for message $1"
}

step "PHP mail() as www-data"
runuser -u www-data -- php -d "sendmail_path=/usr/sbin/sendmail -t -i" \
	-r 'exit(mail("jane@fabrikam.test", "from php", "hello\n", "From: Shop <www-data@localhost>") ? 0 : 1);' || fail "php mail() as www-data"
wait_for 1
grep -q "^X-Fake-Rcpt-To: jane@fabrikam.test" "$fx/received/000001.eml" || fail "php message envelope"
grep -q "^From: \"Shop\" <$MAILBOX>" "$fx/received/000001.eml" || fail "php message From"

step "what www-data cannot read"
for f in /etc/oauth-sendmail/alerts.secret /etc/oauth-sendmail/config.toml /var/cache/oauth-sendmail/alerts.json; do
	if out=$(runuser -u www-data -- cat "$f" 2>&1); then fail "www-data can read $f"; fi
	grep -q "Permission denied" <<<"$out" || fail "reading $f as www-data: $out"
done
runuser -u www-data -- ls /var/cache/oauth-sendmail >/dev/null 2>&1 && fail "www-data can list the token cache"
runuser -u www-data -- mailq >/dev/null || fail "mailq as www-data"

step "cron's call as nobody"
printf 'From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@host> true\n\nok\n' |
	runuser -u nobody -- /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem root || fail "cron-style send as nobody"
wait_for 2
grep -q "^X-Fake-Rcpt-To: admin@contoso.test" "$fx/received/000002.eml" || fail "root's alias"

step "upgrade keeps the edited configuration"
next="$base.1"
OAUTH_SENDMAIL_VERSION="$next" packaging/build.sh amd64 >/dev/null
dpkg -i --force-confold "dist/oauth-sendmail_${next}-1_amd64.deb" >/dev/null
grep -q "edited by the package test" /etc/oauth-sendmail/config.toml || fail "upgrade replaced the edited configuration"
[ "$(stat -c '%a %G' /usr/sbin/oauth-sendmail)" = "2755 oauth-sendmail" ] || fail "upgrade lost the setgid bit"
printf 'Subject: after upgrade\n\nok\n' | runuser -u nobody -- sendmail root || fail "send after upgrade"
wait_for 3

step "remove, purge, reinstall"
dpkg -r oauth-sendmail >/dev/null
[ ! -e /usr/sbin/oauth-sendmail ] || fail "binary left after remove"
[ -f /etc/oauth-sendmail/config.toml ] || fail "remove must keep the conffile"
dpkg -P oauth-sendmail >/dev/null
for p in /etc/oauth-sendmail /var/spool/oauth-sendmail /var/cache/oauth-sendmail /usr/share/doc/oauth-sendmail; do
	[ ! -e "$p" ] || fail "$p left after purge"
done
dpkg-statoverride --list | grep -q oauth-sendmail && fail "statoverrides left after purge"
getent group oauth-sendmail >/dev/null && fail "group left after purge"
dpkg -i "$deb" >/dev/null || fail "reinstall"
[ "$(stat -c '%a %G' /usr/sbin/oauth-sendmail)" = "2755 oauth-sendmail" ] || fail "reinstall: binary mode"
dpkg -P oauth-sendmail >/dev/null
echo "packages: all checks passed"
