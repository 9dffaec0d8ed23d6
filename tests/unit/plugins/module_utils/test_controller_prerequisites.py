# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the controller needs for generated TLS material, and the messages when it lacks it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.controller_prerequisites import (
    problems,
    version_tuple,
)

PYTHON = '/opt/controller/bin/python3'


@pytest.mark.parametrize('text, expected', [('3.0.5', (3, 0, 5)), ('47.0.0rc1', (47, 0, 0)),
                                            ('2.22.0+local', (2, 22, 0)), ('50', (50,))])
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected


def test_nothing_missing():
    assert problems('tls_generate', {'community.crypto': '3.0.5'}, {'cryptography': '50.0.2'}, PYTHON) == []
    assert problems('tls_generate', {'community.crypto': '2.22.0'}, {'cryptography': '47.0.0'}, PYTHON) == []


def test_missing_collection_is_named_with_the_range_and_how_to_install_it():
    [message] = problems('tls_generate', {'community.crypto': None}, {'cryptography': '50.0.2'}, PYTHON)
    assert message.startswith('pgsec_tls_generate: true needs the collection community.crypto (>=2.22.0,<4.0.0)')
    assert "ansible-galaxy collection install 'community.crypto:>=2.22.0,<4.0.0'" in message


@pytest.mark.parametrize('version', ['2.21.1', '4.0.0'])
def test_untested_collection_version(version):
    [message] = problems('tls_generate', {'community.crypto': version}, {'cryptography': '50.0.2'}, PYTHON)
    assert '%s is installed' % version in message


def test_old_cryptography_is_named_with_the_version_needed_and_the_python():
    [message] = problems('tls_generate', {'community.crypto': '3.0.5'}, {'cryptography': '46.0.7'}, PYTHON)
    assert 'the Python package cryptography >= 47.0.0' in message
    assert 'found 46.0.7' in message and PYTHON in message
    [message] = problems('tls_generate', {'community.crypto': '3.0.5'}, {'cryptography': None}, PYTHON)
    assert 'it is not installed' in message
