#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: securekey_reencipher
short_description: Stage, complete or re-encipher in place the secure keys of a host
version_added: "0.1.0"
description:
  - Takes one step of a master-key change for the known volumes of a host
    (or the given devices) and for its KMS identity key, with
    C(securekey reencipher --json) and C(securekey kms reencipher).
  - I(step=staged) enciphers each secure key under the CURRENT master key
    with the committed NEW one too, beside it (before the officer's
    C(securekey hsm set)); I(step=complete) makes the staged key the only one
    once NEW was set; I(step=in_place) re-enciphers a key under OLD with
    CURRENT; I(step=auto) takes each volume's own next step.
  - Idempotent. A volume or identity key whose next step is not the one
    asked for is left alone and reported as such; the command is not run
    when nothing has that next step.
  - A device that fails is reported with the tool's message and the others
    go on; the module then fails, naming the failed devices. Running it
    again finishes them.
options:
  step:
    description: The step to take.
    type: str
    choices: [staged, complete, in_place, auto]
    default: auto
  devices:
    description: These LUKS2 devices or image files instead of the known volumes.
    type: list
    elements: path
  apqns:
    description: Only volumes bound to one of these APQNs.
    type: list
    elements: str
  identity:
    description:
      - Also take the step for the KMS identity key. By default it is done
        when a KMS is configured. C(true) fails when none is.
    type: bool
  key_file:
    description: A file on the managed host with the passphrase of the volumes' passphrase keyslots.
    type: path
  passphrase:
    description:
      - The passphrase of the volumes' passphrase keyslots. Given to the
        tool on standard input, never logged.
    type: str
  key_file_map:
    description:
      - A file on the managed host mapping each device (or LUKS UUID) to its
        own key file (C(--key-file-map)); devices not in it are skipped and fail.
    type: path
  auth:
    description:
      - C(token) re-enciphers with no passphrase (C(--auth=token)), root
        only, when securekey.conf allows it.
    type: str
    choices: [passphrase, token]
    default: passphrase
  jobs:
    description: Devices worked on in parallel (default the online CPUs).
    type: int
  hsm_set:
    description:
      - First make the committed NEW master key of I(apqns) CURRENT
        (C(securekey hsm set)), when the NEW register holds one; for an
        HSM of this host alone (the soft backend), once every volume is
        staged. The tool refuses while a known volume is not staged.
        Requires I(apqns).
    type: bool
    default: false
  report_state:
    description:
      - Also return, as I(state), what M(securekey.fleet.securekey_info)
        reports, read after the step, so that a play need not run it again.
    type: bool
    default: false
extends_documentation_fragment:
  - securekey.fleet.securekey
notes:
  - Supports check mode; it reports what each volume's next step would do.
  - The identity key needs no passphrase.
seealso:
  - module: securekey.fleet.securekey_info
author:
  - securekey developers
'''

EXAMPLES = r'''
- name: Stage every volume and the identity key to the NEW master key
  securekey.fleet.securekey_reencipher:
    step: staged
    key_file: /root/luks.key

- name: Complete after the officer's hsm set
  securekey.fleet.securekey_reencipher:
    step: complete
    passphrase: "{{ vault_luks_passphrase }}"
'''

RETURN = r'''
devices:
  description: Each volume the step applied to, with what happened.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The device.
      type: str
    uuid:
      description: The LUKS UUID.
      type: str
    next_step:
      description: Its next step before the module ran.
      type: str
    result:
      description: C(ok), C(skipped) or C(failed) as C(securekey reencipher) reports it; C(would) in check mode.
      type: str
    detail:
      description: What the tool did, or why it failed.
      type: str
failed_devices:
  description: The paths of the devices that failed.
  returned: always
  type: list
  elements: str
identity:
  description: The identity key's next step before and after, and whether it changed; null without a KMS.
  returned: always
  type: dict
summary:
  description: The summary object of C(securekey reencipher --json), null when it did not run.
  returned: always
  type: dict
hsm_set:
  description: Whether I(hsm_set) made NEW current (in check mode, would have).
  returned: always
  type: bool
state:
  description: The return values of M(securekey.fleet.securekey_info) (hsm, registers, new_state, volumes, identity, summary, initramfs) after the step.
  returned: when I(report_state=true)
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.securekey.fleet.plugins.module_utils.securekey import (
    AUTH_MUTUALLY_EXCLUSIVE, STEP_COMPLETE, STEP_OPTIONS, STEP_WAIT_SET, Securekey,
    SecurekeyError, auth_argument_spec, auth_arguments, common_argument_spec, first_line,
    host_state, new_register_state, normalize_apqns)


def volumes_to_do(tools, params, set_pending=False):
    """The volumes whose next step is the one asked for.

    SET_PENDING: check mode, where 'hsm set' would have run first; a staged
    volume waiting for it would then be completed.
    """
    steps = STEP_OPTIONS[params['step']][1]
    volumes = tools.list_volumes(params['devices'], normalize_apqns(params['apqns']))
    if set_pending:
        for vol in volumes:
            if vol.get('next_step') == STEP_WAIT_SET:
                vol['next_step'] = STEP_COMPLETE
    return [v for v in volumes if not v.get('missing') and v.get('next_step') in steps]


def set_new_master_key(module, tools):
    """'securekey hsm set' when NEW is committed on the APQNs; True if it ran
    (in check mode: would run)."""
    apqns = normalize_apqns(module.params['apqns'])
    if new_register_state(tools.hsm_status(), apqns) != 'committed':
        return False
    if not module.check_mode:
        rc, out, err = tools.run('securekey', ['hsm', 'set', '--apqns', ','.join(apqns)])
        if rc != 0:
            module.fail_json(msg=first_line(err) or 'securekey hsm set failed (exit %d)' % rc,
                             rc=rc, stderr=err, hsm_set=False)
    return True


def kms_status_needed(module, tools):
    """'securekey kms status' once, when the identity key or the state needs it."""
    if module.params['identity'] is False and not module.params['report_state']:
        return None
    return tools.kms_status()


def identity_to_do(module, kms):
    """(identity, should it take the step) from 'kms status' (kms is None without a KMS)."""
    if module.params['identity'] is False:
        return None, False
    if kms is None:
        if module.params['identity']:
            module.fail_json(msg='identity=true, but no KMS is configured')
        return None, False
    identity = kms.get('identity_key') or {}
    if identity.get('error'):
        module.fail_json(msg='identity key %s: %s' % (identity.get('file'), identity['error']),
                         identity=identity)
    steps = STEP_OPTIONS[module.params['step']][1]
    return identity, identity.get('next_step') in steps


def batch_arguments(module):
    params = module.params
    args = ['reencipher'] + list(params['devices'] or [])
    if params['apqns']:
        args += ['--apqns', ','.join(normalize_apqns(params['apqns']))]
    option = STEP_OPTIONS[params['step']][0]
    if option:
        args.append(option)
    if params['jobs']:
        args += ['--jobs', str(params['jobs'])]
    if params['key_file_map']:
        return args + ['--json', '--key-file-map', params['key_file_map']], None
    auth, secret = auth_arguments(module)
    if auth is None:
        module.fail_json(msg='give key_file, passphrase, key_file_map or auth=token')
    return args + ['--json'] + auth, secret


def reencipher_volumes(module, tools, todo):
    """Run the batch; its per-device objects keyed by path, and its summary."""
    args, secret = batch_arguments(module)
    rc, doc, err = tools.json('securekey', args, ok_rcs=(0, 1), secret=secret)
    results = {}
    summary = None
    # One line (a batch killed after its first device) parses as one object.
    for obj in [doc] if isinstance(doc, dict) else doc or []:
        if 'summary' in obj:
            summary = obj['summary']
        else:
            results[obj.get('uuid')] = obj
    if rc not in (0, 1) or (rc == 1 and not results):
        # Killed or refused as a whole: the devices it did not report failed too.
        devices = device_reports(todo, results)
        module.fail_json(msg=first_line(err) or 'securekey reencipher failed (exit %d)' % rc,
                         rc=rc, stderr=err, devices=devices,
                         failed_devices=[d['path'] for d in devices if d['result'] != 'ok'])
    return results, summary


def device_reports(todo, results):
    reports = []
    for vol in todo:
        got = results.get(vol.get('uuid'), {})
        reports.append(dict(path=vol.get('path'), uuid=vol.get('uuid'),
                            next_step=vol.get('next_step'),
                            result=got.get('result', 'not run'), detail=got.get('detail', '')))
    return reports


def reencipher_identity(module, tools):
    option = STEP_OPTIONS[module.params['step']][0]
    rc, out, err = tools.run('securekey', ['kms', 'reencipher'] + ([option] if option else []))
    if rc != 0:
        return first_line(err) or 'securekey kms reencipher failed (exit %d)' % rc
    return None


def main():
    argument_spec = common_argument_spec()
    argument_spec.update(auth_argument_spec())
    argument_spec.update(
        step=dict(type='str', choices=list(STEP_OPTIONS), default='auto'),
        devices=dict(type='list', elements='path'),
        apqns=dict(type='list', elements='str'),
        identity=dict(type='bool'),
        key_file_map=dict(type='path'),
        jobs=dict(type='int'),
        hsm_set=dict(type='bool', default=False),
        report_state=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=AUTH_MUTUALLY_EXCLUSIVE + [
                               ('key_file_map', 'key_file'), ('key_file_map', 'passphrase')],
                           required_if=[('hsm_set', True, ('apqns',))])
    tools = Securekey(module)
    was_set = False
    try:
        was_set = set_new_master_key(module, tools) if module.params['hsm_set'] else False
        todo = volumes_to_do(tools, module.params, was_set and module.check_mode)
        kms = kms_status_needed(module, tools)
        identity, identity_due = identity_to_do(module, kms)
        result = dict(changed=bool(todo) or identity_due or was_set, devices=[],
                      failed_devices=[], summary=None, identity=None, hsm_set=was_set)
        if identity is not None:
            result['identity'] = dict(next_step=identity.get('next_step'), changed=identity_due)
        if module.check_mode:
            if module.params['report_state']:
                result['state'] = host_state(tools, kms, normalize_apqns(module.params['apqns']),
                                             module.params['devices'])
            result['devices'] = [dict(path=v.get('path'), uuid=v.get('uuid'),
                                      next_step=v.get('next_step'), result='would', detail='')
                                 for v in todo]
            module.exit_json(**result)
        if todo:
            results, result['summary'] = reencipher_volumes(module, tools, todo)
            result['devices'] = device_reports(todo, results)
        identity_error = reencipher_identity(module, tools) if identity_due else None
        if module.params['report_state']:
            # The identity key's state changes only when it took its step.
            result['state'] = host_state(tools, tools.kms_status() if identity_due else kms,
                                         normalize_apqns(module.params['apqns']),
                                         module.params['devices'])
        if identity_due and not identity_error:
            after = (result['state']['identity'] if 'state' in result
                     else identity_to_do(module, tools.kms_status())[0])
            result['identity']['next_step_after'] = (after or {}).get('next_step')
    except SecurekeyError as e:
        module.fail_json(msg=str(e), rc=e.rc, stderr=e.stderr, hsm_set=was_set)
    # Every device reported was due for the step: one the batch skipped (no
    # passphrase for it in the key file map) still needs it, as does a failed one.
    result['failed_devices'] = [d['path'] for d in result['devices'] if d['result'] != 'ok']
    result['changed'] = was_set or identity_due and not identity_error or any(
        d['result'] == 'ok' for d in result['devices'])
    if result['failed_devices'] or identity_error:
        msg = []
        if result['failed_devices']:
            msg.append('%d of %d devices failed: %s' % (
                len(result['failed_devices']), len(result['devices']),
                '; '.join('%s: %s' % (d['path'], d['detail']) for d in result['devices']
                          if d['path'] in result['failed_devices'])))
        if identity_error:
            msg.append('identity key: %s' % identity_error)
        module.fail_json(msg='. '.join(msg), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
