# -*- coding: utf-8 -*-
# Copyright: securekey developers
# GNU General Public License v2.0+ (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """The options every securekey.fleet module passes to the tools."""

    DOCUMENTATION = r'''
options:
  config:
    description:
      - The securekey configuration file (C(--config)); default
        C(/etc/securekey/securekey.conf), or C($SECUREKEY_CONF) when set.
    type: path
  hsm_dir:
    description:
      - The HSM location (C(--hsm-dir)), a soft HSM directory or a C(pkcs11:) URI;
        default the configuration's, or C($SECUREKEY_HSM_DIR) when set.
    type: str
requirements:
  - the securekey package (C(securekey) and C(securekey-cryptsetup)) on the managed host
'''
