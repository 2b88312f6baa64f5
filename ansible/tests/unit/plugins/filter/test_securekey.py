# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.securekey.fleet.plugins.filter.securekey import (
    FilterModule, securekey_not_ready)
from ansible_collections.securekey.fleet.plugins.module_utils import securekey as securekey_info
from ansible_collections.securekey.fleet.tests.unit.plugins.harness import doc


def info_result(listing, kms=None):
    """What securekey_info registers on a host with LISTING (and KMS status)."""
    identity = doc(kms)['identity_key'] if kms else None
    volumes = doc(listing)
    return dict(changed=False, volumes=volumes, identity=identity,
                summary=securekey_info.summarize(volumes, identity))


def hostvars(info):
    """A host's hostvars, with securekey_fleet_info as the role registers it."""
    hv = dict(inventory_hostname='x', ansible_connection='local')
    if info is not None:
        hv['securekey_fleet_info'] = info
    return hv


def test_filter_is_registered():
    assert FilterModule().filters() == {'securekey_not_ready': securekey_not_ready}


def test_all_ready():
    hosts = ['a', 'b']
    hv = [hostvars(info_result('list_staged')), hostvars(info_result('list_to_complete'))]
    assert securekey_not_ready(hv, hosts) == []


def test_host_without_info():
    hv = [hostvars(info_result('list_staged')), hostvars(None), {}]
    got = securekey_not_ready(hv, ['a', 'b', 'c'])
    assert [g['host'] for g in got] == ['b', 'c']
    for g in got:
        assert g['reason'].startswith('not checked in this run')
        assert 'blocking' not in g


def test_host_missing_from_hostvars():
    """map('extract', hostvars) of a host with no facts at all gives None."""
    got = securekey_not_ready([None], ['gone'])
    assert got == [dict(host='gone', reason=got[0]['reason'])]
    assert '--limit' in got[0]['reason']


def test_failed_info():
    failed = dict(failed=True, msg="soft HSM directory /nonexistent does not exist; create it "
                  "with 'securekey hsm init --apqns AA.DDDD'")
    got = securekey_not_ready([hostvars(failed)], ['a'])
    assert got == [dict(host='a', reason=failed['msg'])]


def test_failed_info_without_message():
    got = securekey_not_ready([hostvars(dict(failed=True))], ['a'])
    assert got == [dict(host='a', reason='securekey_info failed')]


def test_blocking_volumes():
    info = info_result('list_staged_one_not')
    got = securekey_not_ready([hostvars(info_result('list_staged')), hostvars(info)], ['a', 'b'])
    assert got == [dict(host='b', blocking=info['summary']['blocking'])]
    assert [(b['path'], b['next_step']) for b in got[0]['blocking']] == [
        ('/srv/sk/img4', 'reencipher --staged')]


def test_blocking_identity_key_and_missing_volume():
    got = securekey_not_ready([hostvars(info_result('list_missing', 'kms_status_to_stage'))],
                              ['a'])
    steps = sorted(b['next_step'] for b in got[0]['blocking'])
    assert steps == ['missing', 'reencipher --staged']


def test_order_follows_hosts():
    bad = hostvars(info_result('list_to_stage'))
    got = securekey_not_ready([bad, hostvars(None), bad], ['z', 'y', 'x'])
    assert [g['host'] for g in got] == ['z', 'y', 'x']
