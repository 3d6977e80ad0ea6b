"""Silence dependency warnings a user can do nothing about, where squall's commands start.

paramiko 2.12 (pulled in by streamparse through fabric) touches cryptography's TripleDES at import and
cryptography warns twice (CryptographyDeprecationWarning) on every `sparse` call; streamparse imports
setuptools' pkg_resources, which warns that it is deprecated (setuptools is pinned below 81, which still has it).
Only those two are filtered; squall's own warnings and everything else still show.
"""

from __future__ import annotations

import warnings


def quiet_dependency_warnings() -> None:
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated as an API", category=UserWarning)
    try:
        from cryptography.utils import CryptographyDeprecationWarning
    except ImportError:  # no cryptography, nothing to filter
        return
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"paramiko(\.|$)")
