#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: securekey_info
short_description: Master-key registers, securekey volumes and the KMS identity key of a host
version_added: "0.1.0"
description:
  - Reports what a master-key change needs to know about one host, from the
    JSON of C(securekey hsm status), C(securekey list) and C(securekey kms status).
  - The master-key registers (OLD, CURRENT, NEW) of every APQN with their state and MKVP.
  - Every known volume (enrolled on this host) with the register that holds its
    secure key, whether a staged key exists, whether its volume key is bound to
    a KMS, and its next step.
  - The KMS identity key, when a KMS is configured, with its next step.
  - A summary that says whether the host is ready for C(securekey hsm set).
  - Changes nothing. Needs no passphrase.
options:
  apqns:
    description:
      - Only volumes bound to one of these APQNs (C(AA.DDDD)).
    type: list
    elements: str
  devices:
    description:
      - Report these LUKS2 devices or image files instead of the known volumes.
    type: list
    elements: path
  kms:
    description:
      - Report the KMS servers and the identity key (C(securekey kms status)
        connects to each configured server).
    type: bool
    default: true
extends_documentation_fragment:
  - securekey.fleet.securekey
notes:
  - Supports check mode; it changes nothing either way.
seealso:
  - module: securekey.fleet.securekey_reencipher
  - module: securekey.fleet.securekey_volume
author:
  - securekey developers
'''

EXAMPLES = r'''
- name: Where does every volume stand?
  securekey.fleet.securekey_info:
  register: sk

- name: Stop unless the host is ready for the officer's hsm set
  ansible.builtin.assert:
    that: sk.summary.ready_for_set
    fail_msg: "not staged yet: {{ sk.summary.blocking | to_json }}"
'''

RETURN = r'''
hsm:
  description: The output of C(securekey hsm status --json).
  returned: always
  type: dict
  contains:
    backend:
      description: C(soft) or C(pkcs11).
      type: str
    apqns:
      description: Each APQN with its OLD, CURRENT and NEW register (state, parts, mkvp).
      type: list
      elements: dict
registers:
  description: For each register, the MKVP that every APQN (of I(apqns), when given) agrees on, or null.
  returned: always
  type: dict
  sample: {"OLD": null, "CURRENT": "7b538c585802a718", "NEW": "a4bcdc5c4a224ab6"}
new_state:
  description: State of the NEW register (C(empty), C(partial), C(full-uncommitted), C(committed)...), as the tool prints it, when all APQNs agree; C(mixed) otherwise.
  returned: always
  type: str
initramfs:
  description: Which of securekey's initramfs pieces are installed (an initramfs built with them carries the soft HSM's registers).
  returned: always
  type: dict
  sample: {"initramfs-tools": true, "dracut": false}
volumes:
  description: The output of C(securekey list --json).
  returned: always
  type: list
  elements: dict
  contains:
    uuid:
      description: The LUKS UUID.
      type: str
    path:
      description: Where the volume was found.
      type: str
    apqns:
      description: The APQNs its secure key is bound to.
      type: str
    register:
      description: The register holding the master key of its secure key (C(CURRENT), C(OLD), C(NEW), C(none)).
      type: str
    staged:
      description: Whether a staged secure key exists.
      type: bool
    kms:
      description: Whether the volume key is bound to a KMS.
      type: bool
    next_step:
      description: The next step of a master-key change.
      type: str
    missing:
      description: The known volume was found nowhere.
      type: bool
identity:
  description: The C(identity_key) member of C(securekey kms status --json), null when no KMS is configured or I(kms=false).
  returned: always
  type: dict
kms_servers:
  description: Each configured KMS server and whether it answered.
  returned: when a KMS is configured and I(kms=true)
  type: list
  elements: dict
summary:
  description: What a rotation needs to decide.
  returned: always
  type: dict
  contains:
    volumes:
      description: Number of volumes.
      type: int
    next_steps:
      description: Number of volumes per next step.
      type: dict
    ready_for_set:
      description: Every volume and the identity key are staged to NEW, completed, or need nothing.
      type: bool
    blocking:
      description: The volumes (path and next step) and the identity key that keep the host from being ready for C(hsm set).
      type: list
      elements: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.securekey.fleet.plugins.module_utils.securekey import (
    Securekey, SecurekeyError, common_argument_spec, host_state, normalize_apqns)


def main():
    argument_spec = common_argument_spec()
    argument_spec.update(
        apqns=dict(type='list', elements='str'),
        devices=dict(type='list', elements='path'),
        kms=dict(type='bool', default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    tools = Securekey(module)
    try:
        state = host_state(tools, tools.kms_status() if module.params['kms'] else None,
                           normalize_apqns(module.params['apqns']), module.params['devices'])
    except SecurekeyError as e:
        module.fail_json(msg=str(e), rc=e.rc, stderr=e.stderr)
    module.exit_json(changed=False, **state)


if __name__ == '__main__':
    main()
