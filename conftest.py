"""Test-run settings shared by the unit tests (tests/) and the notebooks (nbval)."""
import atexit
import os
import shutil
import tempfile

# Caches (FID statistics, ...) go to a fresh folder for the whole run, never to the real
# ~/.cache; notebook kernels started by nbval inherit the variable.
_CACHE = tempfile.mkdtemp(prefix="drawjourney-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
