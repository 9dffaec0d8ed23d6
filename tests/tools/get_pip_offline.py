"""Stand-in for get-pip.py, which ansible-test downloads to bootstrap pip in its sanity venvs.

Only package indexes are reachable where this collection is built, so this installs the
interpreter's bundled pip (ensurepip) and then asks that pip for what get-pip was asked for.
ensurepip runs in its own process: it points PIP_CONFIG_FILE at /dev/null in its environment,
which would hide the machine's pip configuration (index, certificates) from the second step.
"""
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
