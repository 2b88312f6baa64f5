# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)
"""Running the securekey tools from a module and reading their JSON.

Every module reads the tools' --json output only, never their text, so a
reworded message cannot change what a playbook decides.  Secrets (the
passphrase) go to the tools on standard input, never on the command line.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

# The next steps the tools print (luks2/keystate.c), grouped by what a
# rotation does with them.
STEP_STAGE = 'reencipher --staged'
STEP_WAIT_SET = 'hsm set'
STEP_COMPLETE = 'reencipher --complete'
STEP_IN_PLACE = 'reencipher --in-place'
STEP_NONE = 'none'

# The step option of 'securekey reencipher' for each value of the modules'
# step parameter, and the next step a volume shows when that option acts.
STEP_OPTIONS = {
    'staged': ('--staged', (STEP_STAGE,)),
    'complete': ('--complete', (STEP_COMPLETE,)),
    'in_place': ('--in-place', (STEP_IN_PLACE,)),
    'auto': (None, (STEP_STAGE, STEP_COMPLETE, STEP_IN_PLACE)),
}

# Before 'hsm set', a volume or identity key in one of these states is ready.
READY_FOR_SET = (STEP_WAIT_SET, STEP_NONE, STEP_COMPLETE)

REGISTERS = ('OLD', 'CURRENT', 'NEW')

# Where securekey's initramfs pieces are installed (package, then make
# install's default prefix): an initramfs built with them carries the soft
# HSM's registers.
INITRAMFS_PARTS = {
    'initramfs-tools': ('/usr/share/initramfs-tools/hooks/securekey',
                        '/usr/local/share/initramfs-tools/hooks/securekey'),
    'dracut': ('/usr/lib/dracut/modules.d/90securekey',
               '/usr/local/lib/dracut/modules.d/90securekey'),
}


def common_argument_spec():
    """Options every securekey module takes."""
    return dict(
        config=dict(type='path'),
        hsm_dir=dict(type='str'),
    )


def auth_argument_spec():
    """How a command that needs the volumes' passphrase gets it."""
    return dict(
        key_file=dict(type='path', no_log=False),
        passphrase=dict(type='str', no_log=True),
        auth=dict(type='str', choices=['passphrase', 'token'], default='passphrase'),
    )


AUTH_MUTUALLY_EXCLUSIVE = [('key_file', 'passphrase')]


class SecurekeyError(Exception):
    """A tool failed; the message is the tool's own error line."""

    def __init__(self, msg, rc=None, stdout='', stderr=''):
        super(SecurekeyError, self).__init__(msg)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


class Securekey(object):
    """The securekey and securekey-cryptsetup commands on the managed host."""

    def __init__(self, module):
        self.module = module
        self.securekey = module.get_bin_path('securekey', required=True,
                                             opt_dirs=['/usr/sbin', '/usr/local/sbin'])
        self.cryptsetup = module.get_bin_path('securekey-cryptsetup', required=True,
                                              opt_dirs=['/usr/sbin', '/usr/local/sbin'])

    def _global_options(self):
        params = self.module.params
        opts = []
        if params.get('config'):
            opts += ['--config', params['config']]
        if params.get('hsm_dir'):
            opts += ['--hsm-dir', params['hsm_dir']]
        return opts

    def command(self, tool, args):
        """The argv of TOOL ('securekey' or 'securekey-cryptsetup') with ARGS."""
        binary = self.securekey if tool == 'securekey' else self.cryptsetup
        return [binary] + self._global_options() + list(args)

    def run(self, tool, args, secret=None):
        """Run a command; SECRET, if any, is its standard input, byte for byte."""
        argv = self.command(tool, args)
        if secret is None:
            return self.module.run_command(argv)
        # binary_data: run_command would otherwise add a newline to the
        # passphrase, and a key file is taken byte for byte.
        return self.module.run_command(argv, data=secret, binary_data=True)

    def json(self, tool, args, ok_rcs=(0,), secret=None):
        """Run a --json command and return (rc, document, stderr).

        The document is the one JSON value on stdout, or the list of JSON
        values of a command that prints one per line.  A status outside
        OK_RCS with no JSON on stdout raises SecurekeyError.
        """
        rc, out, err = self.run(tool, args, secret)
        doc = parse_json_output(out)
        if doc is None and rc not in ok_rcs:
            raise SecurekeyError(first_line(err) or '%s failed with exit status %d'
                                 % (' '.join([tool] + list(args)), rc), rc, out, err)
        return rc, doc, err

    def list_volumes(self, devices=None, apqns=None):
        """'securekey list --json': the known volumes, or DEVICES."""
        args = ['list'] + list(devices or [])
        if apqns:
            args += ['--apqns', ','.join(apqns)]
        # Exit 1 names a volume found nowhere or a device without a token;
        # the JSON still lists what was found ("missing": true entries).
        rc, doc, err = self.json('securekey', args + ['--json'], ok_rcs=(0, 1))
        return doc or []

    def hsm_status(self):
        rc, doc, err = self.json('securekey', ['hsm', 'status', '--json'])
        if doc is None:
            raise SecurekeyError(first_line(err) or 'securekey hsm status printed no JSON', rc)
        return doc

    def kms_status(self):
        """'securekey kms status --json', or None when no KMS is configured.

        An identity key whose state the tool could not tell (no next_step:
        the HSM could not be opened, say) gets an "error" member with the
        tool's message, so that no caller takes it for one with nothing to do.
        """
        rc, doc, err = self.json('securekey', ['kms', 'status', '--json'], ok_rcs=())
        if not doc or doc.get('configured') is False:
            return None
        identity = doc.get('identity_key')
        if isinstance(identity, dict) and identity.get('next_step') is None:
            identity['error'] = first_line(err) or 'securekey kms status could not tell its state'
        return doc

    def validate(self, device):
        """'securekey-cryptsetup validate DEVICE --json'.

        Exit 1 is a key that cannot be used here or a device without a
        token; the JSON says which.  A device that cannot be read has an
        "error" member; that one raises.
        """
        rc, doc, err = self.json('securekey-cryptsetup', ['validate', device, '--json'],
                                 ok_rcs=(0, 1))
        if not isinstance(doc, dict):
            raise SecurekeyError(first_line(err) or '%s: validate printed no JSON' % device, rc)
        if doc.get('error'):
            raise SecurekeyError(doc['error'], rc)
        return doc


def parse_json_output(text):
    """One JSON document, or one JSON value per line; None when there is none."""
    text = text.strip() if text else ''
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    values = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            values.append(json.loads(line))
        except ValueError:
            return None
    return values


def first_line(text):
    for line in (text or '').splitlines():
        if line.strip():
            return line.strip()
    return ''


def normalize_apqns(value):
    """APQNs as a sorted list, from 'AA.DDDD,...' or a list."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(',')
    return sorted(a.strip().lower() for a in value if a and a.strip())


def auth_arguments(module):
    """The options and the standard input that give a command the passphrase."""
    params = module.params
    if params.get('auth') == 'token':
        if params.get('key_file') or params.get('passphrase') is not None:
            module.fail_json(msg='auth=token takes no key_file or passphrase')
        return ['--auth=token'], None
    if params.get('passphrase') is not None:
        return ['--key-file', '-'], params['passphrase']
    if params.get('key_file'):
        return ['--key-file', params['key_file']], None
    return None, None


def apqns_of(hsm, apqns=None):
    """The APQN entries of 'hsm status --json', only APQNS when given."""
    entries = hsm.get('apqns') or []
    if apqns:
        entries = [a for a in entries if a.get('apqn', '').lower() in apqns]
    return entries


def agreed_registers(hsm, apqns=None):
    """The MKVP of each register when every APQN holds the same one."""
    agreed = {}
    entries = apqns_of(hsm, apqns)
    for reg in REGISTERS:
        mkvps = set(a['registers'][reg]['mkvp'] for a in entries)
        agreed[reg] = mkvps.pop() if len(mkvps) == 1 else None
    return agreed


def new_register_state(hsm, apqns=None):
    """The NEW register's state when all APQNs agree, else 'mixed'."""
    states = set(a['registers']['NEW']['state'] for a in apqns_of(hsm, apqns))
    if len(states) == 1:
        return states.pop()
    return 'mixed' if states else 'empty'


def summarize(volumes, identity):
    """Counts per next step, and what keeps the host from 'hsm set'."""
    steps = {}
    blocking = []
    for vol in volumes:
        step = 'missing' if vol.get('missing') else vol.get('next_step')
        steps[step] = steps.get(step, 0) + 1
        if step not in READY_FOR_SET:
            blocking.append(dict(path=vol.get('path'), uuid=vol.get('uuid'), next_step=step))
    if identity and identity.get('next_step') not in READY_FOR_SET:
        entry = dict(identity_key=identity.get('file'), next_step=identity.get('next_step'))
        if identity.get('error'):
            entry['error'] = identity['error']
        blocking.append(entry)
    return dict(volumes=len(volumes), next_steps=steps, ready_for_set=not blocking,
                blocking=blocking)


def initramfs_parts(exists=os.path.exists):
    """Which of securekey's initramfs pieces are installed on this host."""
    return dict((kind, any(exists(p) for p in paths))
                for kind, paths in INITRAMFS_PARTS.items())


def host_state(tools, status, apqns=None, devices=None):
    """What securekey_info reports: registers, volumes, identity key, summary.

    status: what tools.kms_status() answered (None: no KMS, or not asked);
    the caller asks, so that one module run does not ask the KMS servers twice.
    """
    hsm = tools.hsm_status()
    volumes = tools.list_volumes(devices, apqns)
    identity = status.get('identity_key') if status else None
    state = dict(hsm=hsm, registers=agreed_registers(hsm, apqns),
                 new_state=new_register_state(hsm, apqns), volumes=volumes, identity=identity,
                 summary=summarize(volumes, identity), initramfs=initramfs_parts())
    if status:
        state['kms_servers'] = status.get('servers') or []
    return state
