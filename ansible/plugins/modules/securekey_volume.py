#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: securekey_volume
short_description: Enroll a LUKS2 device with a securekey token, or remove it
version_added: "0.1.0"
description:
  - With I(state=present), wraps the volume key of a LUKS2 device with the
    CURRENT master key of the APQNs and stores it in a securekey token with
    its own keyslot (C(securekey-cryptsetup enroll)), so that the device
    unlocks by token. Keyslots and data are not changed.
  - With I(state=absent), removes the token and its keyslot
    (C(securekey-cryptsetup remove)); passphrase keyslots are kept.
  - Idempotent. The state of the device is read from
    C(securekey-cryptsetup validate --json) before and after.
  - A device enrolled to other APQNs, or without the KMS binding asked for,
    is not changed; the module fails and says so (remove it first).
options:
  device:
    description: The LUKS2 block device or image file.
    type: path
    required: true
  state:
    description: Whether the device has a securekey token.
    type: str
    choices: [present, absent]
    default: present
  apqns:
    description:
      - The APQNs (C(AA.DDDD)) the secure key is bound to. Required with I(state=present).
    type: list
    elements: str
  kms:
    description:
      - Also register the volume key with the configured KMS (C(enroll --kms)).
    type: bool
    default: false
  key_file:
    description:
      - A file on the managed host holding the passphrase of an existing keyslot.
    type: path
  passphrase:
    description:
      - The passphrase of an existing keyslot. It reaches the tool on
        standard input, never on its command line, and is never logged.
    type: str
  auth:
    description:
      - C(passphrase) (with I(key_file) or I(passphrase)) or C(token)
        (C(--auth=token)). With C(token), C(enroll) takes the volume key
        from a LUKS2 token that already unlocks the device (systemd-tpm2,
        clevis...), and C(remove) from the securekey token itself; root
        only, and only when C(allow_token_auth = yes) in [batch] of
        securekey.conf.
    type: str
    choices: [passphrase, token]
    default: passphrase
  kms_destroy:
    description: With I(state=absent), revoke and destroy the KMS copy of the volume key first.
    type: bool
    default: false
  purge_backups:
    description: With I(state=absent), also delete the device's header backups, which still hold the token.
    type: bool
    default: false
extends_documentation_fragment:
  - securekey.fleet.securekey
notes:
  - Supports check mode.
  - The passphrase option is C(no_log).
seealso:
  - module: securekey.fleet.securekey_info
  - module: community.crypto.luks_device
author:
  - securekey developers
'''

EXAMPLES = r'''
- name: Enroll the data volume, the passphrase from the vault
  securekey.fleet.securekey_volume:
    device: /dev/disk/by-uuid/5b2c1c1e-1b8c-4d7a-9a43-2f3a4e1d0c11
    apqns: [01.0001, 02.0001]
    kms: true
    passphrase: "{{ vault_luks_passphrase }}"

- name: Remove the token, and its KMS copy
  securekey.fleet.securekey_volume:
    device: /dev/vdb
    state: absent
    key_file: /root/luks.key
    kms_destroy: true
'''

RETURN = r'''
volume:
  description: C(securekey-cryptsetup validate --json) of the device after the change (before it, in check mode).
  returned: always
  type: dict
  contains:
    uuid:
      description: The LUKS UUID.
      type: str
    token:
      description: The securekey token id, null when the device has none.
      type: int
    apqns:
      description: The APQNs of the secure key.
      type: list
    next_step:
      description: The next step of a master-key change (C(enroll) when there is no token).
      type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.securekey.fleet.plugins.module_utils.securekey import (
    AUTH_MUTUALLY_EXCLUSIVE, Securekey, SecurekeyError, auth_argument_spec, auth_arguments,
    common_argument_spec, first_line, normalize_apqns)


def enrolled(volume):
    return volume.get('token') is not None


def mismatch(module, volume):
    """Why an enrolled device is not what the task asks for, or None."""
    wanted = normalize_apqns(module.params['apqns'])
    have = normalize_apqns(volume.get('apqns'))
    if wanted != have:
        return ('%s is enrolled to APQNs %s, not %s: remove it first (state=absent)'
                % (module.params['device'], ','.join(have), ','.join(wanted)))
    if module.params['kms'] and not volume.get('kms'):
        return ('%s is enrolled without a KMS binding: remove it first (state=absent), '
                'then enroll it with kms=true' % module.params['device'])
    return None


def run_tool(module, tools, args):
    """Run securekey-cryptsetup with the passphrase options; fail with its error."""
    auth, secret = auth_arguments(module)
    if auth is None:
        module.fail_json(msg='%s: give key_file, passphrase or auth=token'
                         % module.params['device'])
    rc, out, err = tools.run('securekey-cryptsetup', args + auth, secret)
    if rc != 0:
        module.fail_json(msg=first_line(err) or '%s failed (exit %d)' % (args[0], rc),
                         rc=rc, stderr=err)


def enroll(module, tools):
    args = ['enroll', module.params['device'],
            '--apqns', ','.join(normalize_apqns(module.params['apqns']))]
    if module.params['kms']:
        args.append('--kms')
    run_tool(module, tools, args)


def remove(module, tools):
    args = ['remove', module.params['device']]
    if module.params['kms_destroy']:
        args.append('--kms-destroy')
    if module.params['purge_backups']:
        args.append('--purge-backups')
    run_tool(module, tools, args)


def main():
    argument_spec = common_argument_spec()
    argument_spec.update(auth_argument_spec())
    argument_spec.update(
        device=dict(type='path', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        apqns=dict(type='list', elements='str'),
        kms=dict(type='bool', default=False),
        kms_destroy=dict(type='bool', default=False),
        purge_backups=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=AUTH_MUTUALLY_EXCLUSIVE,
                           required_if=[('state', 'present', ('apqns',))])
    tools = Securekey(module)
    present = module.params['state'] == 'present'
    try:
        volume = tools.validate(module.params['device'])
        if present and enrolled(volume):
            reason = mismatch(module, volume)
            if reason:
                module.fail_json(msg=reason, volume=volume)
        if enrolled(volume) == present:
            module.exit_json(changed=False, volume=volume)
        if module.check_mode:
            module.exit_json(changed=True, volume=volume)
        (enroll if present else remove)(module, tools)
        volume = tools.validate(module.params['device'])
    except SecurekeyError as e:
        module.fail_json(msg=str(e), rc=e.rc, stderr=e.stderr)
    module.exit_json(changed=True, volume=volume)


if __name__ == '__main__':
    main()
