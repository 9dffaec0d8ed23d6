# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS protocol ranks and OpenSSL cipher string analysis (which weak classes a string can select)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

TLS_VERSIONS = ('TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3')
_PEM = re.compile(r'-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)', re.S)


# ---------------------------------------------------------------------------- TLS helpers

def _tls_rank(version):
    """0 for '' (any version), 1.. for TLSv1..TLSv1.3, -1 when unknown."""
    if not version:
        return 0
    for index, known in enumerate(TLS_VERSIONS, 1):
        if known.lower() == str(version).strip().lower():
            return index
    return -1


WEAK_CIPHER_CLASSES = ('eNULL', 'aNULL', 'EXPORT', 'RC4', 'DES', '3DES', 'MD5')
_ALL_WEAK = frozenset(WEAK_CIPHER_CLASSES)
_SEVERE_CIPHER_CLASSES = ('eNULL', 'aNULL', 'EXPORT')
# Which weak classes a cipher-string alias may select (OpenSSL >= 1.1 semantics, conservative:
# an alias counts when it can select at least one suite of the class). Names are upper-cased.
_KEY_EXCHANGE_OR_AUTH = ('ARSA', 'AECDSA', 'ADSS', 'DSS', 'ECDSA', 'KRSA', 'RSA', 'DHE', 'EDH', 'ECDHE', 'EECDH',
                         'PSK', 'KPSK', 'APSK', 'ECDHEPSK', 'DHEPSK', 'RSAPSK', 'KRSAPSK', 'KECDHEPSK', 'KDHEPSK',
                         'SRP', 'KSRP', 'ASRP', 'KGOST', 'AGOST', 'AGOST01', 'GOST')
_STRONG_ENCRYPTION = ('AES', 'AES128', 'AES256', 'AESGCM', 'AESCCM', 'AESCCM8', 'CHACHA20', 'CAMELLIA',
                      'CAMELLIA128', 'CAMELLIA256', 'ARIA', 'ARIA128', 'ARIA256', 'ARIAGCM', 'SEED', 'IDEA',
                      'GOST89', 'AEAD')
_ALIAS_GROUPS = (
    (('ALL',), _ALL_WEAK - {'eNULL'}),
    (('COMPLEMENTOFALL', 'ENULL', 'NULL'), {'eNULL', 'MD5', 'aNULL'}),
    (('DEFAULT',), _ALL_WEAK - {'eNULL', 'aNULL'}),
    (('COMPLEMENTOFDEFAULT',), {'aNULL', 'eNULL'}),
    (('HIGH',), {'aNULL'}),
    (('MEDIUM',), {'RC4', '3DES', 'MD5', 'aNULL'}),
    (('LOW',), {'DES', 'MD5', 'aNULL'}),
    (('EXPORT', 'EXP', 'EXPORT40', 'EXPORT56', 'EXP40', 'EXP56'), _ALL_WEAK),
    (('ANULL', 'ADH', 'AECDH', 'KDHE', 'KEDH', 'DH', 'KECDHE', 'KEECDH', 'ECDH', 'TLSV1', 'TLSV1.0', 'SSLV3',
      'SSLV2'), _ALL_WEAK),
    (_KEY_EXCHANGE_OR_AUTH, _ALL_WEAK - {'aNULL'}),
    (('SHA1', 'SHA'), _ALL_WEAK - {'MD5'}),
    (_STRONG_ENCRYPTION, {'aNULL'}),
    (('RC4',), {'RC4', 'MD5', 'aNULL', 'EXPORT'}),
    (('DES',), {'DES', 'EXPORT', 'aNULL', 'MD5'}),
    (('3DES',), {'3DES', 'aNULL'}),
    (('RC2',), {'EXPORT', 'MD5'}),
    (('MD5',), _ALL_WEAK - {'3DES'}),
    (('SHA256', 'SHA384', 'TLSV1.2'), {'eNULL', 'aNULL'}),
    (('FIPS',), {'3DES', 'eNULL'}),
    (('SUITEB128', 'SUITEB128ONLY', 'SUITEB192', 'SUITEB128C2'), set()),
)
_ALIAS_MAY_SELECT = dict((name, frozenset(classes)) for names, classes in _ALIAS_GROUPS for name in names)
# What '!ALIAS' removes for good.
_ALIAS_REMOVES = {
    'ANULL': {'aNULL'}, 'ENULL': {'eNULL'}, 'NULL': {'eNULL'}, 'EXPORT': {'EXPORT'}, 'EXP': {'EXPORT'},
    'RC4': {'RC4'}, 'DES': {'DES'}, '3DES': {'3DES'}, 'MD5': {'MD5'}, 'LOW': {'DES'}, 'MEDIUM': {'RC4', '3DES'},
}


def _suite_classes(name):
    """Weak classes of one explicit cipher suite name such as ECDHE-RSA-AES128-GCM-SHA256."""
    upper = name.upper()
    parts = upper.split('-')
    classes = set()
    if 'NULL' in parts:
        classes.add('eNULL')
    if parts[0] in ('ADH', 'AECDH') or 'ANON' in parts:
        classes.add('aNULL')
    if parts[0].startswith('EXP'):
        classes.add('EXPORT')
    if 'RC4' in parts:
        classes.add('RC4')
    if 'DES-CBC3' in upper or '3DES' in parts or 'EDE3' in upper:
        classes.add('3DES')
    elif 'DES' in parts or 'DES40' in parts or 'DES-CBC' in upper:
        classes.add('DES')
    if parts[-1] == 'MD5':
        classes.add('MD5')
    return classes


def weak_cipher_classes(cipher_string):
    """Which weak cipher classes an OpenSSL cipher string may enable, without running openssl.

    Elements are processed in order as OpenSSL does: ``A+B`` selects the intersection,
    ``-X`` removes (later elements may add back), ``!X`` removes for good, ``+X`` only
    reorders, ``@...`` are commands. Aliases are judged conservatively (an alias that
    may select a weak class counts as selecting it). Returns {"weak": {class: [elements
    that select it]}, "unknown": [unrecognised elements]}; classes are WEAK_CIPHER_CLASSES.
    """
    present = {}
    killed = set()
    unknown = []
    for element in re.split(r'[:, ]+', cipher_string or ''):
        if not element or element.startswith('@'):
            continue
        prefix = element[0] if element[0] in '!-+' else ''
        body = element[len(prefix):]
        if prefix == '+':
            continue
        if prefix in ('!', '-'):
            # removing an alias removes its class; removing one named suite leaves the class in place
            removed = _ALIAS_REMOVES.get(body.upper(), ())
            if prefix == '!':
                killed.update(removed)
            else:
                for name in removed:
                    present.pop(name, None)
            continue
        selected = None
        for alias in body.split('+'):
            upper = alias.upper()
            if upper in _ALIAS_MAY_SELECT:
                classes = set(_ALIAS_MAY_SELECT[upper])
            elif upper.startswith('TLS_'):
                classes = set()  # a TLS 1.3 suite name: ssl_ciphers does not configure TLS 1.3
            elif '-' in alias:
                classes = _suite_classes(alias)
            else:
                unknown.append(alias)
                classes = set()
            selected = classes if selected is None else selected & classes
        for name in selected or ():
            present.setdefault(name, []).append(element)
    weak = {name: elements for name, elements in present.items() if name not in killed}
    return {'weak': weak, 'unknown': unknown}


def _cipher_elements(cipher_string):
    return [element for element in re.split(r'[:, ]+', cipher_string or '') if element]


def redact(value):
    """Remove anything PEM-looking from text (findings never carry key material)."""
    if isinstance(value, str):
        return _PEM.sub('[PEM data removed]', value)
    return value
