"""Silence dependency warnings a user can do nothing about, where squall's commands start.

paramiko 2.12 (pulled in by streamparse through fabric) touches cryptography's TripleDES at import and
cryptography warns twice (CryptographyDeprecationWarning) on every `sparse` call. Only that category, from
paramiko's modules, is filtered; squall's own warnings and everything else still show.
"""

from __future__ import annotations

import warnings


def quiet_dependency_warnings() -> None:
    try:
        from cryptography.utils import CryptographyDeprecationWarning
    except ImportError:  # no cryptography, nothing to filter
        return
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"paramiko(\.|$)")
