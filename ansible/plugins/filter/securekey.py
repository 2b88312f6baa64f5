# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)
"""Filters of the securekey.fleet collection."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: securekey_not_ready
short_description: The hosts that keep a master-key change from 'hsm set'
version_added: "0.1.0"
description:
  - Takes the hostvars of every host of the change (in the order of I(hosts))
    and returns one entry per host that is not ready for C(securekey hsm set), that is
    a host with no C(securekey_fleet_info) (it failed before, was not
    reached, or C(--limit) left it out), one whose C(securekey_info) failed, and one whose volumes or
    identity key are not staged, with those volumes and their next step.
options:
  _input:
    description: The hostvars of the hosts, e.g. C(ansible_play_hosts_all | map('extract', hostvars)).
    type: list
    elements: dict
    required: true
  hosts:
    description: The host names, in the same order.
    type: list
    elements: str
    required: true
'''

EXAMPLES = r'''
- ansible.builtin.fail:
    msg: "{{ not_ready | to_json }}"
  run_once: true
  when: not_ready | length > 0
  vars:
    not_ready: "{{ ansible_play_hosts_all | map('extract', hostvars) | securekey.fleet.securekey_not_ready(ansible_play_hosts_all) }}"
'''

RETURN = r'''
_value:
  description: One dict per host not ready, with C(host) and either C(reason) or C(blocking) (the volumes and their next step).
  type: list
  elements: dict
'''


def securekey_not_ready(host_vars, hosts):
    not_ready = []
    for host, hv in zip(hosts, host_vars):
        info = hv.get('securekey_fleet_info') if hv else None
        if not info:
            not_ready.append(dict(host=host, reason='not checked in this run: it failed or '
                                  'was unreachable earlier, or --limit left it out'))
        elif info.get('failed'):
            not_ready.append(dict(host=host, reason=info.get('msg', 'securekey_info failed')))
        elif not info['summary']['ready_for_set']:
            not_ready.append(dict(host=host, blocking=info['summary']['blocking']))
    return not_ready


class FilterModule(object):
    def filters(self):
        return {'securekey_not_ready': securekey_not_ready}
