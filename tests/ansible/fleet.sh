# A fleet of sandboxed "hosts" for the securekey.fleet collection: each host
# is a directory with its own state, run directory, configuration and image
# files, and an inventory host with ansible_connection=local whose
# securekey_environment points the tools there. Sourced by tests/ansible/t_fleet.sh
# (after tests/cli/common.sh) and usable by a benchmark script:
#
#	SK_BUILDDIR=BUILD SK_SRCDIR=SRC
#	. SRC/tests/ansible/fleet.sh
#
# Nothing here calls atf_check; a function that fails says why on stderr and
# calls fleet_fail (atf_fail inside a test, exit 1 elsewhere).

: "${SK_BUILDDIR:?set SK_BUILDDIR to the build tree before sourcing fleet.sh}"
: "${SK_SRCDIR:?set SK_SRCDIR to the source tree before sourcing fleet.sh}"
: "${PYTHON:=/usr/bin/python3}"
: "${APQNS:=01.0001,02.0001}"
: "${P11_MODULE:=/usr/lib/softhsm/libsofthsm2.so}"
: "${P11_TOKEN:=securekey-test}"

fleet_fail()
{
	if command -v atf_fail >/dev/null 2>&1; then
		atf_fail "$*"
	fi
	echo "fleet: $*" >&2
	exit 1
}

# fleet_token DIR: an empty SoftHSM2 token $P11_TOKEN with its files, PIN
# file (0600) and configuration in DIR; prints nothing. Its
# SECUREKEY_HSM_DIR and SOFTHSM2_CONF: fleet_token_uri DIR, DIR/softhsm2.conf.
fleet_token()
{
	mkdir -p "$1/tokens" && chmod 0700 "$1" || fleet_fail "cannot make $1"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$(cd "$1" && pwd)/tokens" >"$1/softhsm2.conf"
	(umask 077 && printf '4711-sk-pin' >"$1/pin")
	SOFTHSM2_CONF=$1/softhsm2.conf softhsm2-util --init-token --free --label "$P11_TOKEN" \
		--pin 4711-sk-pin --so-pin 0815-so-pin >"$1/init.log" 2>&1 ||
		fleet_fail "softhsm2-util --init-token: $(cat "$1/init.log")"
}

fleet_token_uri()
{
	echo "pkcs11:token=$P11_TOKEN?module-path=$P11_MODULE&pin-source=file:$(cd "$1" && pwd)/pin"
}

# fleet_host DIR HSM [SOFTHSM2_CONF [BINDIR]]: the sandbox of a host in DIR
# (created): DIR/state, DIR/run, DIR/securekey.conf (written by the tools),
# DIR/env, the host's environment (NAME=VALUE lines, read by
# fleet_inventory), and DIR/with-env, which runs a command in it. HSM is
# its SECUREKEY_HSM_DIR (a soft HSM
# directory or a pkcs11: URI), PATH has BINDIR (if any) first, then the
# build's cli directory.
fleet_host()
{
	mkdir -p "$1/state" "$1/run" || fleet_fail "cannot make $1"
	_fh_dir=$(cd "$1" && pwd)
	{
		echo "SECUREKEY_STATE_DIR=$_fh_dir/state"
		echo "SECUREKEY_RUN_DIR=$_fh_dir/run"
		echo "SECUREKEY_CONF=$_fh_dir/securekey.conf"
		echo "SECUREKEY_HSM_DIR=$2"
		echo "SECUREKEY_LOCK_TIMEOUT=30"
		[ -n "${3:-}" ] && echo "SOFTHSM2_CONF=$3"
		echo "PATH=${4:+$4:}$SK_BUILDDIR/cli:/usr/sbin:/usr/bin:/sbin:/bin"
		[ -n "${ASAN_OPTIONS:-}" ] && echo "ASAN_OPTIONS=$ASAN_OPTIONS"
		[ -n "${UBSAN_OPTIONS:-}" ] && echo "UBSAN_OPTIONS=$UBSAN_OPTIONS"
	} >"$1/env"
	cat >"$1/with-env" <<EOF
#!/bin/sh
# with-env COMMAND...: COMMAND with the environment of host $_fh_dir.
while IFS= read -r _line; do
	export "\$_line"
done <'$_fh_dir/env'
exec "\$@"
EOF
	chmod +x "$1/with-env"
}

# fleet_run DIR COMMAND...: COMMAND with the environment of host DIR
# (DIR/with-env COMMAND... does the same, e.g. under atf_check).
fleet_run()
{
	_fr_dir=$1
	shift
	"$_fr_dir/with-env" "$@"
}

# fleet_images DIR N PASSFILE: N small LUKS2 images DIR/img1 ... DIR/imgN
# (pbkdf2 with 1000 iterations; keyslot 0 opens with PASSFILE), copies of
# one luksFormat, each given a UUID of its own.
fleet_images()
{
	truncate -s 4M "$1/img.base" || fleet_fail "cannot make $1/img.base"
	cryptsetup luksFormat --type luks2 --luks2-metadata-size 16k --luks2-keyslots-size 1M \
		--batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$3" \
		"$1/img.base" >"$1/luksformat.log" 2>&1 ||
		fleet_fail "luksFormat: $(cat "$1/luksformat.log")"
	for _fi_n in $(seq 1 "$2"); do
		cp --sparse=always "$1/img.base" "$1/img$_fi_n" &&
			cryptsetup luksUUID --batch-mode --uuid "$(cat /proc/sys/kernel/random/uuid)" \
				"$1/img$_fi_n" || fleet_fail "cannot copy $1/img.base to $1/img$_fi_n"
	done
	rm -f "$1/img.base" "$1/luksformat.log"
}

# fleet_enroll DIR PASSFILE [ENROLL-OPTION...]: enroll every image of host
# DIR (under the CURRENT master key of $APQNS) with the options, e.g. --kms.
fleet_enroll_one()
{
	_fe_dir=$1
	_fe_img=$2
	_fe_pass=$3
	shift 3
	fleet_run "$_fe_dir" securekey-cryptsetup enroll "$_fe_img" --apqns "$APQNS" \
		--key-file "$_fe_pass" "$@" >"$_fe_dir/enroll.log" 2>&1 ||
		fleet_fail "enroll $_fe_img: $(cat "$_fe_dir/enroll.log")"
	rm -f "$_fe_dir/enroll.log"
}

# fleet_kms_configure DIR KMSDIR URL: the host's KMS configuration with the
# test PKI of KMSDIR (kms_certs) and the server URL; its identity key under
# the CURRENT master key of $APQNS.
fleet_kms_configure()
{
	fleet_run "$1" securekey kms configure --apqns "$APQNS" --ca "$2/ca.pem" \
		--cert "$2/client.pem" --key "$2/client.key" --timeout 5 --server "$3" \
		>"$1/kms-configure.log" 2>&1 ||
		fleet_fail "kms configure on $1: $(cat "$1/kms-configure.log")"
	rm -f "$1/kms-configure.log"
}

# fleet_inventory FILE VARS-JSON DIR...: a YAML inventory (JSON is YAML)
# with a group 'securekey' of one host per DIR, named after its last path
# component, ansible_connection=local, the build's python, the host's
# environment (DIR/env) as securekey_environment, and the variables of
# VARS-JSON (a JSON object; in its strings @HOST@ is the host's directory).
fleet_inventory()
{
	_fi_file=$1
	_fi_vars=$2
	shift 2
	"$PYTHON" - "$_fi_file" "$_fi_vars" "$@" <<'EOF' || fleet_fail "cannot write the inventory"
import json, os, sys
out, extra, dirs = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
hosts = {}
for d in dirs:
    d = os.path.abspath(d)
    with open(os.path.join(d, "env")) as f:
        env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    v = {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
         "securekey_environment": env}
    for k, val in extra.items():
        v[k] = json.loads(json.dumps(val).replace("@HOST@", d))
    hosts[os.path.basename(d)] = v
with open(out, "w") as f:
    json.dump({"securekey": {"hosts": hosts}}, f, indent=1)
EOF
}

# fleet_collections DIR: DIR/ansible_collections/securekey/fleet, a link to
# the collection of the source tree, for ANSIBLE_COLLECTIONS_PATH=DIR.
fleet_collections()
{
	mkdir -p "$1/ansible_collections/securekey" &&
		ln -sfn "$SK_SRCDIR/ansible" "$1/ansible_collections/securekey/fleet" ||
		fleet_fail "cannot make $1/ansible_collections"
}

# fleet_callback DIR: DIR/fleetjson.py, a stdout callback plugin
# (ANSIBLE_CALLBACK_PLUGINS=DIR ANSIBLE_STDOUT_CALLBACK=fleetjson) that
# prints the run as one JSON object laid out as ansible.posix.json does
# (plays[].tasks[].hosts{HOST: result}, stats{HOST: recap}): ansible-core
# alone has no JSON stdout callback.
fleet_callback()
{
	mkdir -p "$1" || fleet_fail "cannot make $1"
	cat >"$1/fleetjson.py" <<'EOF'
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'fleetjson'

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({'play': {'name': play.get_name()}, 'tasks': []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.plays[-1]['tasks'].append({'task': {'name': task.get_name()}, 'hosts': {}})

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _record(self, result, **extra):
        res = dict(result._result)
        res.update(extra)
        self.plays[-1]['tasks'][-1]['hosts'][result._host.get_name()] = res

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        out = {'plays': self.plays,
               'stats': dict((h, stats.summarize(h)) for h in sorted(stats.processed))}
        self._display.display(json.dumps(out, cls=AnsibleJSONEncoder, indent=1, sort_keys=True))
EOF
}
